"""A service for the multi-process tests, configured by environment variables.

``python -m doozer run tests.amqp.service -w N`` with ``DOOZER_TEST_QUEUE``,
``DOOZER_TEST_OUTPUT`` (a file that gets ``<body> <redelivered>`` per
processed message, written unbuffered so that SIGKILL loses none),
``DOOZER_TEST_DELAY`` (seconds per message), ``DOOZER_TEST_PREFETCH`` and
``DOOZER_TEST_CONNECT_TIMEOUT`` (``AMQP_CONNECT_TIMEOUT``) and
``DOOZER_TEST_TLS_CA_FILE`` (``AMQP_TLS_CA_FILE``).
With ``DOOZER_TEST_CLOSE_AT=<body>``, processing that message (the first
time) has the broker close this process's connection, with rabbitmqctl.
With ``DOOZER_TEST_RETRY_DELAY=<seconds>``, every message fails its first
attempt and is retried (through the broker's delay queue) after that delay.
"""

from __future__ import annotations

import asyncio
import os

from doozer import Application
from doozer.amqp import AMQP, Message
from doozer.contrib.retry import Retry, RetryableException
from tests.amqp.support import close_connections
from tests.support.service import CONNECT_TIMEOUT, DELAY, announce_consuming, record

CLOSE_AT = os.environ.get("DOOZER_TEST_CLOSE_AT", "").encode()
RETRY_DELAY = os.environ.get("DOOZER_TEST_RETRY_DELAY", "")


async def process(app: Application, message: Message) -> None:
    if CLOSE_AT and message.body == CLOSE_AT and not message.redelivered:
        closed = await asyncio.to_thread(
            close_connections, f"{app.name} (doozer, pid {os.getpid()})"
        )
        print(f"closed {closed} connection(s)", flush=True)
    if DELAY:
        await asyncio.sleep(DELAY)
    if RETRY_DELAY and message.attempt == 1:
        print(f"retrying {message.body.decode()}", flush=True)
        raise RetryableException("the first attempt always fails")
    record(f"{message.body.decode()} {int(message.redelivered)}")


app = Application(
    "amqp-service",
    {
        "AMQP_URL": os.environ["DOOZER_TEST_AMQP_URL"],
        "AMQP_INBOUND_QUEUE": os.environ["DOOZER_TEST_QUEUE"],
        "AMQP_PREFETCH_COUNT": int(os.environ.get("DOOZER_TEST_PREFETCH", "4")),
        "AMQP_RECONNECT_DELAY": 0.1,
        "AMQP_CONNECT_TIMEOUT": CONNECT_TIMEOUT,
        "AMQP_TLS_CA_FILE": os.environ.get("DOOZER_TEST_TLS_CA_FILE") or None,
    },
    callback=process,
)
amqp = AMQP(app)
app.consumer = amqp.consumer()
if RETRY_DELAY:
    Retry(app, delay=float(RETRY_DELAY))
announce_consuming(app)

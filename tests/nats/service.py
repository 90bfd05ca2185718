"""A service for the multi-process tests, configured by environment variables.

``python -m doozer run tests.nats.service:app -w N`` with ``DOOZER_TEST_NATS_URL``,
``DOOZER_TEST_STREAM``, ``DOOZER_TEST_OUTPUT`` (a file that gets ``start <body>``
and ``done <body> <deliveries>`` lines, written unbuffered so that SIGKILL loses
none), ``DOOZER_TEST_DELAY`` (seconds per message), ``DOOZER_TEST_ACK_WAIT``,
``DOOZER_TEST_MAX_DELIVER`` and ``DOOZER_TEST_CRASH_ON`` (a body that makes the
process exit at once, as a crash would).
"""

from __future__ import annotations

import asyncio
import os

from doozer import Application
from doozer.nats import JetStream, Message
from tests.support.service import CONNECT_TIMEOUT, CRASH_ON, DELAY, announce_consuming, record

STREAM = os.environ["DOOZER_TEST_STREAM"]


async def process(app: Application, message: Message) -> None:
    body = message.body.decode()
    record(f"start {body}")
    if CRASH_ON and message.body == CRASH_ON:
        os._exit(3)
    if DELAY:
        await asyncio.sleep(DELAY)
    record(f"done {body} {message.deliveries}")


app = Application(
    "nats-service",
    {
        "NATS_URL": os.environ["DOOZER_TEST_NATS_URL"],
        "NATS_STREAM": STREAM,
        "NATS_SUBJECTS": [f"{STREAM}.in", f"{STREAM}.out"],
        "NATS_INBOUND_SUBJECT": f"{STREAM}.in",
        "NATS_DURABLE": "nats-service",
        "NATS_ACK_WAIT": float(os.environ.get("DOOZER_TEST_ACK_WAIT", "30")),
        "NATS_MAX_DELIVER": int(os.environ.get("DOOZER_TEST_MAX_DELIVER", "5")),
        "NATS_RECONNECT_DELAY": 0.2,
        "NATS_CONNECT_TIMEOUT": CONNECT_TIMEOUT,
    },
    callback=process,
)
nats = JetStream(app)
app.consumer = nats.consumer()
announce_consuming(app)

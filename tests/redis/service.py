"""A service for the multi-process tests, configured by environment variables.

``python -m doozer run tests.redis.service -w N`` with ``DOOZER_TEST_REDIS_URL``,
``DOOZER_TEST_STREAM``, ``DOOZER_TEST_OUTPUT`` (a file that gets
``<body> <deliveries>`` per processed entry, written unbuffered so that
SIGKILL loses none), ``DOOZER_TEST_DELAY`` (seconds per entry),
``DOOZER_TEST_CLAIM_IDLE`` and ``DOOZER_TEST_CRASH_ON`` (a body that makes
the process exit at once, as a crash would).
"""

from __future__ import annotations

import asyncio
import os

from doozer import Application
from doozer.redis import Message, RedisStreams
from tests.support.service import CONNECT_TIMEOUT, CRASH_ON, DELAY, announce_consuming, record


async def process(app: Application, message: Message) -> None:
    assert message.body is not None
    if CRASH_ON and message.body == CRASH_ON:
        record(f"{message.body.decode()} {message.deliveries}")
        os._exit(3)
    if DELAY:
        await asyncio.sleep(DELAY)
    record(f"{message.body.decode()} {message.deliveries}")


app = Application(
    "redis-service",
    {
        "REDIS_URL": os.environ["DOOZER_TEST_REDIS_URL"],
        "REDIS_INBOUND_STREAM": os.environ["DOOZER_TEST_STREAM"],
        "REDIS_CLAIM_IDLE": float(os.environ.get("DOOZER_TEST_CLAIM_IDLE", "30")),
        "REDIS_MAX_DELIVERIES": int(os.environ.get("DOOZER_TEST_MAX_DELIVERIES", "5")),
        "REDIS_RECONNECT_DELAY": 0.1,
        "REDIS_RECONNECT_MAX_DELAY": 1,
        "REDIS_CONNECT_TIMEOUT": CONNECT_TIMEOUT,
    },
    callback=process,
)
redis = RedisStreams(app)
app.consumer = redis.consumer()
announce_consuming(app)

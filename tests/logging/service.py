"""A traced, JSON-logging Redis service for the process tests.

``python -m doozer run tests.logging.service:app`` with ``DOOZER_TEST_REDIS_URL``
and ``DOOZER_TEST_STREAM``; ``DOOZER_TEST_LOG_FORMAT`` sets ``LOG_FORMAT`` (unset:
the extension's default, for ``--log-format``). An entry whose body is ``bad``
fails.
"""

from __future__ import annotations

import os
from typing import Any

import structlog
from opentelemetry.sdk.trace import TracerProvider

from doozer import Application
from doozer.contrib.logging import Logging
from doozer.contrib.otel import OpenTelemetry
from doozer.redis import RedisStreams

logger = structlog.get_logger("service")


async def process(app: Application, message: Any) -> None:
    logger.info("handled", body=message.body.decode())
    if message.body == b"bad":
        raise ValueError("bad entry")


settings = {
    "REDIS_URL": os.environ["DOOZER_TEST_REDIS_URL"],
    "REDIS_INBOUND_STREAM": os.environ["DOOZER_TEST_STREAM"],
}
if "DOOZER_TEST_LOG_FORMAT" in os.environ:
    settings["LOG_FORMAT"] = os.environ["DOOZER_TEST_LOG_FORMAT"]
app = Application("logging-service", settings, callback=process)
app.consumer = RedisStreams(app).consumer()
OpenTelemetry(app, tracer_provider=TracerProvider())  # sampled, exported nowhere
Logging(app)

"""Fixtures for the AMQP tests, which need a RabbitMQ server.

When none is reachable at ``DOOZER_TEST_AMQP_URL`` (by default the local
``amqp://guest:guest@127.0.0.1:5672/``), every test here is skipped with the
reason, unless ``DOOZER_REQUIRE_RABBITMQ=1`` (as in CI), which fails them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import aio_pika
import pytest

from .support import URL, Broker


def _probe(url: str) -> str | None:
    async def connect() -> None:
        connection = await aio_pika.connect(url, timeout=5)
        await connection.close()

    try:
        asyncio.run(connect())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The test broker's URL; skips (or fails, if required) when it is unreachable."""
    problem = _probe(URL)
    if problem is not None:
        import os

        reason = f"RabbitMQ is not reachable at {URL} ({problem})"
        if os.environ.get("DOOZER_REQUIRE_RABBITMQ") == "1":
            pytest.fail(f"{reason}, and DOOZER_REQUIRE_RABBITMQ=1 requires it", pytrace=False)
        pytest.skip(f"{reason}; set DOOZER_REQUIRE_RABBITMQ=1 to fail instead")
    return URL


@pytest.fixture
def broker(amqp_url: str) -> Iterator[Broker]:
    """Uniquely named queues and exchanges for one test, deleted after it."""
    handle = Broker(amqp_url, f"doozer-test-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()

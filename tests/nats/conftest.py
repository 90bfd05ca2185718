"""Fixtures for the NATS tests, which need the local NATS server with JetStream.

An unreachable server fails these tests (it never skips them): CI starts
one (``.ci/run``), and a developer needs one too. Each test gets its own
uniquely named streams, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import nats
import pytest

from .support import Streams

#: The test server; override with DOOZER_TEST_NATS_URL.
URL = os.environ.get("DOOZER_TEST_NATS_URL", "nats://127.0.0.1:4222")


async def _check() -> None:
    client = await nats.connect(URL, connect_timeout=5, max_reconnect_attempts=0)
    try:
        await client.jetstream().account_info()
    finally:
        await client.close()


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The test server's URL; fails every test that needs it when it does not answer."""
    try:
        asyncio.run(_check())
    except Exception as exc:
        pytest.fail(
            f"NATS with JetStream is not reachable at {URL} ({exc!r}): start it with "
            "'nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server &' "
            "(these tests never skip)",
            pytrace=False,
        )
    return URL


@pytest.fixture
def streams(nats_url: str) -> Iterator[Streams]:
    """A uniquely named stream (and dead-letter stream) for one test, deleted after it."""
    handle = Streams(nats_url, f"doozer_test_{uuid.uuid4().hex[:10]}")
    handle.run(handle.create())
    try:
        yield handle
    finally:
        handle.run(handle.delete())

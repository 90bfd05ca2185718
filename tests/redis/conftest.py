"""Fixtures for the Redis tests, which need the local Redis server.

An unreachable server fails these tests (it never skips them): CI starts
one (``.ci/run``), and a developer needs one too. Each test gets its own
uniquely named streams, deleted afterwards; the server is never flushed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from .support import Streams

#: The test server; override with DOOZER_TEST_REDIS_URL.
URL = os.environ.get("DOOZER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test server's URL; fails every test that needs it when it does not answer."""
    client = redis.Redis.from_url(URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {URL} ({exc}): start it with "
            "'redis-server --daemonize yes' (these tests never skip)",
            pytrace=False,
        )
    finally:
        client.close()
    return URL


@pytest.fixture
def streams(redis_url: str) -> Iterator[Streams]:
    """Uniquely named streams for one test, deleted after it."""
    handle = Streams(redis_url, f"doozer-test-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()

"""Fixtures for the database tests, which need the local PostgreSQL server.

An unreachable server fails these tests (it never skips them). Each test
gets a database of its own, dropped afterwards; the server is never stopped.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

#: The server, as asyncpg connects to it (trust authentication); override with
#: DOOZER_TEST_POSTGRES_DSN.
ADMIN_DSN = os.environ.get("DOOZER_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def database_url() -> Iterator[str]:
    """A SQLAlchemy URL of a fresh database, dropped after the test."""
    name = f"doozer_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {ADMIN_DSN} ({exc}): start it "
            "(these tests never skip)",
            pytrace=False,
        )
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

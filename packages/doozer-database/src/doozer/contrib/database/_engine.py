"""Making the engine from the settings, and connecting with backoff at startup."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from doozer.backoff import Backoff
from doozer.config import mask_url

from ._settings import Settings

__all__ = ["UNREACHABLE", "connect", "make_engine", "summary"]

#: Errors that mean "the server cannot be reached now", not "the server said no".
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    OperationalError,
    InterfaceError,
)

#: Waits between connection attempts at startup: first, then doubled up to the last.
MIN_DELAY = 0.25
MAX_DELAY = 5.0


def summary(exc: BaseException) -> str:
    """The exception's type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {mask_url(lines[0])}" if lines else type(exc).__name__


def make_engine(settings: Settings, num_workers: int | None) -> AsyncEngine:
    """An engine for *settings*; no connection is made yet.

    A pool holds ``DATABASE_POOL_SIZE`` connections, by default one per
    worker (at least SQLAlchemy's 5), so no worker waits for a connection.
    """
    options: dict[str, Any] = {"echo": settings.echo, "pool_pre_ping": True}
    if settings.queue_pool:  # a StaticPool (sqlite :memory:) takes neither
        options["pool_size"] = settings.pool_size or max(num_workers or 1, 5)
        options["pool_timeout"] = settings.pool_timeout
    return create_async_engine(settings.url, **options)


def unreachable(exc: BaseException) -> bool:
    """Whether *exc* says the database cannot be reached (worth trying again)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, UNREACHABLE)


async def connect(engine: AsyncEngine, settings: Settings, logger: logging.Logger) -> None:
    """Open (and return to the pool) one connection, trying for ``connect_timeout`` seconds.

    :raises ConnectionError: one line naming the masked URL, once the time is
        up or at once when the server refuses for good (unknown database or role).
    """
    where = settings.safe_url
    backoff = Backoff(MIN_DELAY, MAX_DELAY, settings.connect_timeout)
    while True:
        try:
            async with engine.connect():
                break
        except Exception as exc:
            if not unreachable(exc):
                raise ConnectionError(
                    f"cannot connect to the database at {where}: {summary(exc)}; check DATABASE_URL"
                ) from None
            wait = backoff.next_wait()
            if wait is None:
                raise ConnectionError(
                    f"cannot connect to the database at {where} (tried for "
                    f"{settings.connect_timeout:g} s; DATABASE_CONNECT_TIMEOUT): {summary(exc)}; "
                    "check DATABASE_URL and that the server is running"
                ) from None
            logger.warning(
                "Cannot connect to the database at %s (%s); trying again in %.1f s",
                where,
                summary(exc),
                wait,
            )
            await backoff.sleep(wait)
    logger.info("Connected to the database at %s", where)

"""A Redis client that keeps trying: backoff and logs when the server is gone.

It knows nothing of Doozer applications: the consumer and the producer run
their commands through :meth:`Connection.call`, which retries a command
whose connection was lost until it succeeds or the connection is closed.
Every command it retries is safe to run twice (the scripts check first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from doozer.backoff import Backoff
from doozer.config import mask_url
from doozer.exceptions import exception_chain
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["LOST", "ClosedError", "Connection"]

T = TypeVar("T")

#: Errors that mean "the server cannot be reached now", not "the server said no".
LOST: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)

#: The longest a blocking read waits in one call: a silent server is noticed
#: within this (plus SOCKET_MARGIN), and the claim sweep never waits longer.
MAX_BLOCK = 5.0
SOCKET_MARGIN = 5.0


_MAYBE_LOST: tuple[type[BaseException], ...] = (*LOST, RuntimeError)


def is_lost(exc: BaseException) -> bool:
    """Whether *exc* means the connection broke (rather than the server refusing)."""
    if isinstance(exc, LOST):
        return True
    # uvloop, writing to a transport that a reset just closed.
    return isinstance(exc, RuntimeError) and "closed" in str(exc) and "Transport" in str(exc)


class ClosedError(Exception):
    """The connection was closed while a command waited to be retried."""


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def tls_problem(exc: BaseException) -> str | None:
    """What is wrong with TLS, with the setting to fix, if that is why *exc* happened.

    A server certificate that does not verify will not verify on a second try.
    (A server refusing this client's certificate is not told apart: under TLS
    1.3 the client only sees its connection closed, like any lost connection.)
    """
    for seen in exception_chain(exc):  # redis-py wraps the ssl error
        if isinstance(seen, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate verification failed ({seen.verify_message or seen}): "
                "set REDIS_TLS_CA_FILE to the CA that signed the server's certificate"
            )
    return None


class Connection:
    """One Redis client for an application, with reconnection and backoff.

    :param url: the server's URL (checked already); only its masked form is shown.
    :param logger: where connection losses and recoveries are logged.
    :param connect_timeout: how long :meth:`open` keeps trying, in seconds.
    :param min_delay: first wait before trying again, doubled per failure.
    :param max_delay: longest wait between tries.
    :param tls: with ``rediss://``, redis-py's ``ssl_*`` options (CA, client
        certificate and key files).
    """

    def __init__(
        self,
        url: str,
        logger: logging.Logger,
        *,
        connect_timeout: float = 30,
        min_delay: float = 0.5,
        max_delay: float = 30,
        tls: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.tls: dict[str, Any] = dict(tls or {})
        self.logger = logger
        self.connect_timeout = connect_timeout
        self.min_delay = min_delay
        self.max_delay = max_delay
        self._client: Redis | None = None
        self._closed = asyncio.Event()
        self._lost_since: float | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {mask_url(self.url)}>"

    @property
    def where(self) -> str:
        """The server's URL without its password."""
        return mask_url(self.url)

    @property
    def client(self) -> Any:
        """The redis-py client, a ``redis.asyncio.Redis`` (opened by :meth:`open`)."""
        if self._client is None:
            raise RuntimeError(
                f"the Redis connection to {self.where} is not open: "
                "it opens when the application starts"
            )
        return self._client

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed.is_set()

    def _new_client(self) -> Redis:
        # redis-py must not retry on its own: call() does, and logs it.
        return Redis.from_url(
            self.url,
            socket_connect_timeout=MAX_BLOCK,
            socket_timeout=MAX_BLOCK + SOCKET_MARGIN,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
            **self.tls,
        )

    async def open(self) -> None:
        """Connect, trying again with backoff for ``connect_timeout`` seconds.

        :raises ConnectionError: one line naming the (masked) URL, once the
            time is up.
        """
        self._closed.clear()
        if self._client is None:
            self._client = self._new_client()
        backoff = Backoff(self.min_delay, self.max_delay, self.connect_timeout)
        while True:
            try:
                await self._client.ping()
            except _MAYBE_LOST as exc:
                if not is_lost(exc):
                    raise
                problem = tls_problem(exc)
                if problem is not None:  # trying again would not change the certificates
                    message = f"cannot connect to Redis at {self.where}: {problem}"
                    raise ConnectionError(message) from None
                wait = backoff.next_wait()
                if wait is None:
                    raise ConnectionError(
                        f"cannot connect to Redis at {self.where} "
                        f"(tried for {self.connect_timeout:g} s; REDIS_CONNECT_TIMEOUT): "
                        f"{_summary(exc)}; check REDIS_URL and that the server is running"
                    ) from None
                self.logger.warning(
                    "Cannot connect to Redis at %s (%s); trying again in %.1f s",
                    self.where,
                    _summary(exc),
                    wait,
                )
                await backoff.sleep(wait)
            else:
                break
        self.logger.info("Connected to Redis at %s", self.where)

    async def close(self) -> None:
        """Stop retrying and close the client's connections."""
        self._closed.set()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def call(self, command: Callable[[Redis], Awaitable[T]], what: str) -> T:
        """Run ``await command(client)``, again and again while the server is unreachable.

        Waits with backoff between tries and logs the loss once and the
        recovery once. Raises ``ClosedError`` if the connection is closed
        while it waits to retry.

        :param what: what the command does, for the logs.
        """
        backoff = Backoff(self.min_delay, self.max_delay)
        while True:
            if self.closed:
                raise ClosedError(f"the Redis connection to {self.where} is closed")
            try:
                result = await command(self.client)
            except _MAYBE_LOST as exc:
                if not is_lost(exc):
                    raise
                if self.closed:
                    raise ClosedError(f"the Redis connection to {self.where} is closed") from exc
                delay = backoff.next_delay()
                self._log_lost(exc, what, delay)
                await self._pause(delay)
                continue
            if self._lost_since is not None:
                self.logger.warning(
                    "Reconnected to Redis at %s after %.1f s",
                    self.where,
                    time.monotonic() - self._lost_since,
                )
                self._lost_since = None
            return result

    def _log_lost(self, exc: BaseException, what: str, delay: float) -> None:
        if self._lost_since is None:
            self._lost_since = time.monotonic()
            self.logger.warning(
                "Lost the connection to Redis at %s while %s (%s); reconnecting",
                self.where,
                what,
                _summary(exc),
            )
        else:
            self.logger.info(
                "Redis at %s still unreachable (%s); trying again in %.1f s",
                self.where,
                _summary(exc),
                delay,
            )

    async def _pause(self, delay: float) -> None:
        # Wakes at once when the connection is closed (no sleep past a stop).
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closed.wait(), delay)

    async def execute(self, *args: Any, what: str) -> Any:
        """Run one raw command through :meth:`call`."""
        run: Any = Redis.execute_command  # untyped in redis-py
        return await self.call(lambda client: run(client, *args), what)

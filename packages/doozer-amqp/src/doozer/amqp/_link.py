"""One connection to the broker, opened again with backoff whenever it is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.exceptions import ChannelInvalidStateError

from doozer.backoff import Backoff
from doozer.config import mask_url

from ._connect import ConnectFailedError, ConnectOptions, connect

#: Errors that mean "the connection or the channel is gone", not "the broker said no".
LOST: tuple[type[BaseException], ...] = (ConnectionError, ChannelInvalidStateError)

#: Called on every (re)connection with the new connection and its generation number.
Hook = Callable[[AbstractConnection, int], Awaitable[None]]

#: Longest wait for one connection attempt (the greeting, login and open).
ATTEMPT_TIMEOUT = 10.0


class Link:
    """The connection of one application, its publishing channel, and reconnection.

    Each successful connection gets a new *generation* number. Whatever was
    received on an older generation is stale: it cannot be acknowledged any
    more and the broker delivers it again. It knows nothing of Doozer: the
    consumer and the extension register *hooks*, run on every connection.
    """

    def __init__(
        self,
        options: ConnectOptions,
        logger: logging.Logger,
        min_delay: float,
        max_delay: float,
        publish_timeout: float = 30.0,
        connect_timeout: float = 30.0,
    ) -> None:
        self.options = options
        self.logger = logger
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.publish_timeout = publish_timeout
        self.connect_timeout = connect_timeout
        self.generation = 0
        #: How many times the connection was opened again since :meth:`open`.
        self.reconnects = 0
        #: A few words on the connection: "connected", "reconnecting: <cause>"...
        self.state = "not connected"
        self.hooks: list[Hook] = []
        self.connection: AbstractConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.options.safe_url} generation={self.generation}>"

    @property
    def ready(self) -> bool:
        """Whether a connection is open and set up."""
        return self._ready.is_set()

    # -- opening and closing ----------------------------------------------

    async def open(self) -> None:
        """Connect for the first time, retrying with backoff for ``connect_timeout`` seconds.

        :raises ConnectionError: one line naming the (masked) URL and the
            cause, once the time is up or at once when retrying cannot help
            (access refused, unknown virtual host, TLS verification).
        """
        self._closing = False
        self._ready = asyncio.Event()  # on this run's event loop
        self._lost = asyncio.Event()
        self.reconnects = 0
        self.state = "connecting"
        loop = asyncio.get_running_loop()
        backoff = Backoff(self.min_delay, self.max_delay, self.connect_timeout)
        while True:
            try:
                await self._connect(min(ATTEMPT_TIMEOUT, max(backoff.left, 0.1)))
                break
            except ConnectFailedError as failure:
                attempt = backoff.attempt
                wait = backoff.next_wait() if failure.retry else None
                if wait is None:
                    self.state = f"cannot connect: {failure}"
                    self._give_up(failure, attempt)
                self.state = f"connecting: {failure}"
                self.logger.warning(
                    "Cannot connect to the AMQP broker at %s yet (attempt %d: %s); "
                    "trying again in %.1f s",
                    self.options.safe_url,
                    attempt,
                    failure,
                    wait,
                )
                await backoff.sleep(wait)
        self.logger.info("Connected to the AMQP broker at %s", self.options.safe_url)
        self._supervisor = loop.create_task(self._supervise())

    def _give_up(self, failure: ConnectFailedError, attempts: int) -> NoReturn:
        # The library's traceback is for -v (DEBUG); the error itself is one line.
        self.logger.debug("The last connection attempt failed with:", exc_info=failure.__cause__)
        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
        raise ConnectionError(
            f"cannot connect to the AMQP broker at {self.options.safe_url}: {failure}{tried}"
        ) from None

    async def close(self) -> None:
        """Close the connection and stop reconnecting."""
        self._closing = True
        self.state = "closed"
        self._ready.clear()
        self._lost.set()  # wakes the supervisor, which sees _closing and returns
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        connection, self.connection = self.connection, None
        self._publisher = None
        if connection is not None and not connection.is_closed:
            await connection.close()

    def reconnect(self, generation: int, reason: object) -> None:
        """Treat *generation*'s connection as lost (an unexpected channel close, say)."""
        if self._closing or generation != self.generation or self._lost.is_set():
            return
        cause = _one_line(reason)
        self.logger.warning(
            "Lost the AMQP connection to %s (%s); reconnecting", self.options.safe_url, cause
        )
        self.state = f"reconnecting: {cause}"
        self._ready.clear()
        self._lost.set()

    async def _connect(self, timeout: float = ATTEMPT_TIMEOUT) -> None:
        connection = await connect(self.options, timeout)
        generation = self.generation + 1
        try:
            publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
            for hook in self.hooks:
                await hook(connection, generation)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await connection.close()
            if isinstance(exc, Exception) and not isinstance(exc, LOST):
                # The broker refused a declaration (PRECONDITION_FAILED...): retrying
                # the same declaration cannot help.
                raise ConnectFailedError(f"connected, but setting up failed: {exc}", False) from exc
            raise

        def on_close(_sender: object, exc: BaseException | None = None) -> None:
            self.reconnect(generation, exc or "closed")

        connection.close_callbacks.add(on_close)
        publisher.close_callbacks.add(on_close)
        self.generation = generation
        self.connection = connection
        self._publisher = publisher
        self._exchanges = {"": publisher.default_exchange}
        self._lost.clear()
        self.state = "connected"
        self._ready.set()

    async def _supervise(self) -> None:
        while True:
            await self._lost.wait()
            if self._closing:
                return
            old, self.connection = self.connection, None
            if old is not None and not old.is_closed:
                with contextlib.suppress(Exception):
                    await old.close()
            backoff = Backoff(self.min_delay, self.max_delay)
            lost = self.state
            while True:
                try:
                    await self._connect()
                except Exception as exc:
                    attempt = backoff.attempt
                    self.state = f"{lost}; attempt {attempt} to reconnect failed: {_one_line(exc)}"
                    delay = backoff.next_delay()
                    self.logger.warning(
                        "Reconnecting to %s failed (attempt %d: %s); next attempt in %.1f s",
                        self.options.safe_url,
                        attempt,
                        exc,
                        delay,
                    )
                    await backoff.sleep(delay)
                else:
                    self.reconnects += 1
                    self.logger.warning(
                        "Reconnected to %s (attempt %d); consuming again",
                        self.options.safe_url,
                        backoff.attempt,
                    )
                    break

    # -- publishing ----------------------------------------------------------

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        message: aio_pika.Message,
        mandatory: bool = True,
        again: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Publish and wait for the broker's confirmation.

        With *again*, a publication cut off by a lost connection is made
        again once connected: at least once, so a duplicate is possible.
        Without, the error is raised (for copies of a delivery, which the
        broker delivers again anyway when the connection is lost).

        The whole of it, waiting for a connection included, is bounded by
        *timeout* (by default the link's publish timeout): :class:`TimeoutError`.
        """
        limit = self.publish_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(
                self._publish(exchange, routing_key, message, mandatory, again), limit
            )
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"publishing to exchange {exchange!r} with routing key {routing_key!r} took "
                f"longer than AMQP_PUBLISH_TIMEOUT ({limit:g} s): is the broker down or blocked?"
            ) from None

    async def _publish(
        self,
        exchange: str,
        routing_key: str,
        message: aio_pika.Message,
        mandatory: bool,
        again: bool,
    ) -> None:
        while True:
            await self._ready.wait()
            if self._closing:
                raise ConnectionError("the AMQP connection is closed")
            generation = self.generation
            try:
                target = await self._exchange(exchange)
                await target.publish(message, routing_key, mandatory=mandatory)
            except LOST as exc:
                if self._closing or not again:
                    self.reconnect(generation, f"publishing failed: {exc!r}")
                    raise
                self.reconnect(generation, f"publishing failed: {exc!r}")
                await asyncio.sleep(0)  # let the supervisor run before trying again
                continue
            return

    async def declare_queue(self, name: str, arguments: dict[str, Any]) -> None:
        """Declare a durable queue on a channel of its own (a refusal closes only that).

        Bounded, like a publication, by the publish timeout.
        """
        await asyncio.wait_for(self._declare_queue(name, arguments), self.publish_timeout)

    async def _declare_queue(self, name: str, arguments: dict[str, Any]) -> None:
        await self._ready.wait()
        assert self.connection is not None
        channel = await self.connection.channel(publisher_confirms=False)
        try:
            await channel.declare_queue(name, durable=True, arguments=arguments)
        finally:
            if not channel.is_closed:
                await channel.close()

    async def _exchange(self, name: str) -> AbstractExchange:
        exchange = self._exchanges.get(name)
        if exchange is None:
            assert self._publisher is not None
            exchange = await self._publisher.get_exchange(name, ensure=False)
            self._exchanges[name] = exchange
        return exchange


def _one_line(reason: object) -> str:
    """*reason* as one short line without secrets, for logs and ``state``."""
    text = mask_url(str(reason)).strip().replace("\n", " ")
    return text if len(text) <= 200 else f"{text[:197]}..."

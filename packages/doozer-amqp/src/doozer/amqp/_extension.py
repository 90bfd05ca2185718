"""The :class:`AMQP` extension: wires the connection, consumer, producers and settlement."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from aio_pika.abc import AbstractConnection

from doozer import Extension
from doozer import headers as names
from doozer.outcomes import Outcome, Unfinished

from ._connect import ConnectOptions
from ._consumer import Consumer
from ._link import LOST, Link
from ._message import RETRY_HEADER, Message
from ._producer import Producer, Result
from ._settings import DEFAULTS, DOCS, Settings, resolve
from ._settle import Settler

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["AMQP", "FALLBACK_PREFETCH_COUNT"]

#: ``AMQP_PREFETCH_COUNT`` when it is None and the number of workers is unknown.
FALLBACK_PREFETCH_COUNT = 20

#: Where AMQP's startup and teardown callbacks and its message wrapper sit.
STARTUP_ORDER = -1000
TEARDOWN_ORDER = 1000
WRAPPER_ORDER = -1100  # outside tracing (-1000): a stale delivery is not processed at all


class AMQP(Extension):
    """Connects an application to RabbitMQ (or another AMQP 0-9-1 broker).

    Initializing it on an application registers:

    * a startup callback (``order=-1000``, so before yours) that opens the
      connection, declares the queues and exchanges, and starts consuming,
      and a teardown callback (``order=1000``, after yours) that hands unread
      messages back, sends the acknowledgements owed and closes it;
    * a message wrapper (``order=-1100``) that does not process a message
      whose connection was lost meanwhile (the broker delivers it again):
      its outcome is :class:`~doozer.outcomes.Unfinished`.

    Each message the consumer reads is a :class:`~doozer.amqp.Message`, a
    :class:`doozer.types.Delivery` that Doozer settles with its outcome:
    acknowledged, dead-lettered, retried later through a delay queue, or
    returned (see :doc:`/amqp`). Its ``messaging_attributes`` describe it
    for tracing; the consumer tells health probes whether it is ``ready``.

    Every message it publishes for the application (results, dead letters,
    delayed retries, republished copies) goes through the application's
    publish wrappers (:meth:`doozer.Application.publish_wrapper`), which
    may add headers to it (a tracing extension's ``traceparent``).

    :param app: the application to initialize, if known yet.
    """

    #: Settings and their defaults (see :doc:`/amqp` for what each does).
    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = DEFAULTS
    SETTINGS_DOCS: ClassVar[Mapping[str, str]] = DOCS
    ONE_PER_APP: ClassVar[bool] = True

    def __init__(self, app: Application | None = None) -> None:
        self._settings: Settings | None = None
        self._link: Link | None = None
        self._settler: Settler | None = None
        self._consumer: Consumer | None = None
        # The inbound message each worker task is processing, for publish_result.
        self._processing: dict[asyncio.Task[Any], Message] = {}
        super().__init__(app)

    def __repr__(self) -> str:
        queue = self._settings.inbound_queue if self._settings else None
        url = self._settings.safe_url if self._settings else None
        return f"<{type(self).__name__} url={url!r} queue={queue!r}>"

    def init_app(self, app: Application) -> None:
        """Check the ``AMQP_*`` settings and register the callbacks.

        :param app: the application to initialize.
        :raises TypeError: if a setting has the wrong type.
        :raises ValueError: if a setting has a wrong value (``AMQP_URL`` that
            is not an ``amqp://`` or ``amqps://`` URL with a host, say).
        :raises RuntimeError: if this instance, or another AMQP, already
            initialized an application.
        """
        super().init_app(app)
        settings = self._config
        options = ConnectOptions(
            settings.url,
            f"{app.name} (doozer, pid {os.getpid()})",
            settings.heartbeat,
            settings.tls_verify,
            settings.tls_ca_file,
            settings.tls_cert_file,
            settings.tls_key_file,
        )
        link = self._link = Link(
            options,
            app.logger,
            settings.reconnect_delay,
            settings.reconnect_max_delay,
            settings.publish_timeout,
            settings.connect_timeout,
        )
        self._settler = Settler(link, settings, app.logger, app.publishing)
        if settings.outbound_exchange or settings.outbound_queue:
            link.hooks.append(self._declare_outbound)
        app.startup(self._open, order=STARTUP_ORDER)
        app.teardown(self._close, order=TEARDOWN_ORDER)
        app.message_wrapper(self._wrap, order=WRAPPER_ORDER)

    def read_settings(self, app: Application) -> None:
        """Check the ``AMQP_*`` settings (see :meth:`init_app`)."""
        self._settings = resolve(app.settings)

    @property
    def _config(self) -> Settings:
        return self.initialized(self._settings)

    @property
    def _live_link(self) -> Link:
        return self.initialized(self._link)

    @property
    def prefetch_count(self) -> int:
        """How many unacknowledged messages the broker sends ahead.

        ``AMQP_PREFETCH_COUNT``, or when that is None, twice the number of
        workers of the run (``app.num_workers``, known from startup on),
        else :data:`~doozer.amqp.FALLBACK_PREFETCH_COUNT`.
        """
        if self._config.prefetch_count is not None:
            return self._config.prefetch_count
        if self.app.num_workers is not None:
            return min(2 * self.app.num_workers, 65535)  # the protocol's maximum
        return FALLBACK_PREFETCH_COUNT

    # -- what the application uses --------------------------------------------

    def consumer(self) -> Consumer:
        """Return the consumer of ``AMQP_INBOUND_QUEUE`` (always the same one).

        Use it as the application's consumer, before the application starts::

            app.consumer = amqp.consumer()

        :raises KeyError: if ``AMQP_INBOUND_QUEUE`` is not set.
        """
        settings = self._config
        if self._consumer is None:
            if not settings.inbound_queue:
                raise KeyError(
                    "AMQP.consumer() needs the AMQP_INBOUND_QUEUE setting: "
                    "set app.settings['AMQP_INBOUND_QUEUE'] before initializing AMQP"
                )
            assert self._settler is not None
            link = self._live_link
            self._consumer = Consumer(
                link, settings, self._settler, self.app.logger, lambda: self.prefetch_count
            )
            link.hooks.append(self._consumer.attach)
        return self._consumer

    def producer(self, exchange: str | None = None, routing_key: str | None = None) -> Producer:
        """Return a producer publishing to *exchange* with *routing_key* by default.

        :param exchange: by default ``AMQP_OUTBOUND_EXCHANGE`` ("" is the
            default exchange, which routes by queue name).
        :param routing_key: by default ``AMQP_OUTBOUND_ROUTING_KEY``.
        """
        settings = self._config
        return Producer(
            self._live_link,
            settings.outbound_exchange if exchange is None else exchange,
            settings.outbound_routing_key if routing_key is None else routing_key,
            self.app.publishing,
        )

    async def publish_result(self, app: Application, result: Any) -> Any:
        """A result postprocessor that publishes each result, then passes it on.

        A result is bytes, a string, or a :class:`~doozer.amqp.Result` that
        also sets the routing key, headers, content type, correlation id or
        message id. It goes to ``AMQP_OUTBOUND_EXCHANGE`` with
        ``AMQP_OUTBOUND_ROUTING_KEY`` by default, and carries the
        correlation id of the message it was made from unless it sets one::

            app.result_postprocessor(amqp.publish_result)

        :raises TypeError: if a result is none of those.
        :raises UnroutableError: if no queue is bound for it.
        :raises TimeoutError: if publishing took longer than ``AMQP_PUBLISH_TIMEOUT``.
        """
        if isinstance(result, Result):
            spec = result
        elif isinstance(result, (bytes, bytearray, memoryview, str)):
            spec = Result(result if isinstance(result, str) else bytes(result))
        else:
            raise TypeError(
                f"publish_result() publishes bytes, strings or doozer.amqp.Result, not "
                f"{type(result).__name__}: serialize results in a result postprocessor "
                "registered before it"
            )
        correlation_id = spec.correlation_id
        if correlation_id is None:
            task = asyncio.current_task()
            inbound = self._processing.get(task) if task is not None else None
            correlation_id = inbound.correlation_id if inbound is not None else None
        await self.producer().publish(
            spec.body,
            spec.routing_key,
            spec.headers,
            message_id=spec.message_id,
            content_type=spec.content_type,
            correlation_id=correlation_id,
        )
        return result

    async def republish(self, app: Application, message: Any) -> None:
        """Publish a copy of *message* at the end of ``AMQP_INBOUND_QUEUE`` now.

        The copy counts as the next attempt (its ``x-doozer-attempt`` header
        is one more). :mod:`doozer.contrib.retry` does not need it any more
        (a retried :class:`~doozer.amqp.Message` waits in a delay queue), but
        ``Retry(app, callback=amqp.republish)`` keeps working. The original
        still needs settling (Doozer does that).

        :raises TypeError: if *message* did not come from this extension's consumer.
        """
        if not isinstance(message, Message):
            raise TypeError(
                f"AMQP.republish() retries messages read by AMQP's consumer, not {message!r}"
            )
        headers: dict[str, Any] = {
            key: value for key, value in message.headers.items() if key != RETRY_HEADER
        }
        headers[names.ATTEMPT] = str(message.attempt + 1)
        headers[names.FIRST_FAILURE] = repr(message.first_failure or time.time())
        queue = self._config.inbound_queue or ""
        link = self._live_link

        async def publish() -> None:
            await link.publish("", queue, message.copy(headers), again=False)

        try:
            await self.app.publishing(queue, headers, publish)
        except LOST as exc:
            self.app.logger.warning(
                "Could not republish %r, the connection was lost (%r); the broker delivers it "
                "again",
                message,
                exc,
            )

    # -- the registered callbacks -------------------------------------------

    async def _open(self, app: Application) -> None:
        if self._consumer is not None:
            self._consumer.reset()
        await self._live_link.open()

    async def _close(self, app: Application) -> None:
        link = self._live_link
        try:
            if self._consumer is not None:
                await self._consumer.close()
        finally:
            await link.close()

    async def _declare_outbound(self, connection: AbstractConnection, generation: int) -> None:
        settings = self._config
        channel = await connection.channel(publisher_confirms=False)
        try:
            exchange = None
            if settings.outbound_exchange:
                exchange = await channel.declare_exchange(
                    settings.outbound_exchange, settings.exchange_type, durable=True
                )
            if settings.outbound_queue:
                queue = await channel.declare_queue(settings.outbound_queue, durable=True)
                if exchange is not None:
                    await queue.bind(exchange, settings.outbound_routing_key or "")
        finally:
            await channel.close()

    async def _wrap(
        self, app: Application, message: Any, process: Callable[[], Awaitable[Outcome]]
    ) -> Outcome:
        if not isinstance(message, Message):
            return await process()
        if message.stale:
            # Read ahead before its connection was lost: the broker delivers
            # it again, so processing it now would only make a duplicate.
            return Unfinished("connection lost")
        task = asyncio.current_task()
        assert task is not None
        self._processing[task] = message
        try:
            return await process()
        finally:
            del self._processing[task]

"""The :class:`AMQP` extension: connection, callbacks, acknowledgement, dead letters."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from aio_pika.abc import AbstractConnection

from doozer import Abort, Extension

from ._consumer import Consumer
from ._link import LOST, Link
from ._message import RETRY_HEADER, Message, encode_retry_state
from ._producer import Producer
from ._settings import DEFAULTS, Settings, resolve

if TYPE_CHECKING:
    from doozer import Application

__all__ = [
    "AMQP",
    "ERROR_HEADER",
    "ERROR_TYPE_HEADER",
    "FAILED_AT_HEADER",
    "FALLBACK_PREFETCH_COUNT",
    "ORIGINAL_EXCHANGE_HEADER",
    "ORIGINAL_ROUTING_KEY_HEADER",
]

#: Dead letters: ``"ExceptionType: message"`` of the failure.
ERROR_HEADER = "x-doozer-error"
#: Dead letters: the failure's exception class, as ``module.QualifiedName``.
ERROR_TYPE_HEADER = "x-doozer-error-type"
#: Dead letters: when the message failed (ISO 8601, UTC).
FAILED_AT_HEADER = "x-doozer-failed-at"
#: Dead letters: the exchange the message was first published to.
ORIGINAL_EXCHANGE_HEADER = "x-doozer-original-exchange"
#: Dead letters: the routing key the message was first published with.
ORIGINAL_ROUTING_KEY_HEADER = "x-doozer-original-routing-key"

#: ``AMQP_PREFETCH_COUNT`` when it is None and the number of workers is unknown.
FALLBACK_PREFETCH_COUNT = 20

_MAX_REASON = 4000

# Each worker task runs a message's preprocessors, callback, error callbacks
# and acknowledgement callbacks in turn, in its own context: these hold the
# delivery it is processing (set by the first preprocessor) and the failure
# an error callback saw (read by the acknowledgement callback).
_current: ContextVar[Message | None] = ContextVar("doozer_amqp_current", default=None)
_failure: ContextVar[BaseException | None] = ContextVar("doozer_amqp_failure", default=None)


class AMQP(Extension):
    """Connects an application to RabbitMQ (or another AMQP 0-9-1 broker).

    Initializing it on an application registers:

    * a startup callback (run first) that opens the connection, declares the
      queues and exchanges, and starts consuming, and a teardown callback
      (moved to run last) that hands unread messages back and closes it;
    * a message preprocessor (put first) that remembers, per worker, which
      delivery is being processed, so that error callbacks and
      ``RETRY_CALLBACK`` can find it even after other preprocessors have
      replaced the message;
    * an error callback (appended) that logs the failure and marks the
      delivery for the dead-letter queue;
    * an acknowledgement callback (appended) that acknowledges each
      delivery once Doozer finished it, after publishing a failed one to
      ``AMQP_DEAD_LETTER_QUEUE``.

    :param app: the application to initialize, if known yet.
    """

    #: Settings and their defaults (see :doc:`/amqp` for what each does).
    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = DEFAULTS

    def __init__(self, app: Application | None = None) -> None:
        self._settings: Settings | None = None
        self._link: Link | None = None
        self._consumer: Consumer | None = None
        super().__init__(app)

    def init_app(self, app: Application) -> None:
        """Check the ``AMQP_*`` settings and register the callbacks.

        :param app: the application to initialize.
        :raises TypeError: if a setting has the wrong type.
        :raises ValueError: if a setting has a wrong value.
        :raises RuntimeError: if this instance, or another AMQP, already
            initialized an application.
        """
        if self._app is not None:
            raise RuntimeError(f"this AMQP extension is already initialized on {self._app!r}")
        if isinstance(app.extensions.get("amqp"), AMQP):
            raise RuntimeError(f"AMQP is already initialized on {app!r}")
        for key, value in DEFAULTS.items():
            app.settings.setdefault(key, value)
        self._settings = resolve(app.settings)
        super().init_app(app)
        callbacks = app.callbacks
        callbacks.startup.insert(0, self._open)
        callbacks.message_preprocessor.insert(0, self._track)
        callbacks.error.append(self._on_error)
        callbacks.message_acknowledgement.append(self._acknowledge)
        callbacks.teardown.append(self._close)

    @property
    def _config(self) -> Settings:
        if self._settings is None:
            self.app  # noqa: B018 - raises the explanatory RuntimeError
        assert self._settings is not None
        return self._settings

    @property
    def _live_link(self) -> Link:
        if self._link is None:
            raise RuntimeError(
                "the AMQP connection is not open: it opens when the application starts"
            )
        return self._link

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
            self._consumer = Consumer(self, settings)
        return self._consumer

    def producer(self, exchange: str | None = None, routing_key: str | None = None) -> Producer:
        """Return a producer publishing to *exchange* with *routing_key* by default.

        :param exchange: by default ``AMQP_OUTBOUND_EXCHANGE`` ("" is the
            default exchange, which routes by queue name).
        :param routing_key: by default ``AMQP_OUTBOUND_ROUTING_KEY``.
        """
        settings = self._config
        return Producer(
            self,
            settings.outbound_exchange if exchange is None else exchange,
            settings.outbound_routing_key if routing_key is None else routing_key,
        )

    async def publish_result(self, app: Application, result: Any) -> Any:
        """A result postprocessor that publishes each result, then passes it on.

        Results must be bytes or strings (encode them in an earlier
        postprocessor); they go to ``AMQP_OUTBOUND_EXCHANGE`` with
        ``AMQP_OUTBOUND_ROUTING_KEY``::

            app.result_postprocessor(amqp.publish_result)

        :raises TypeError: if a result is neither bytes nor a string.
        """
        if not isinstance(result, (bytes, bytearray, memoryview, str)):
            raise TypeError(
                f"publish_result() publishes bytes or strings, not {type(result).__name__}: "
                "serialize results in a result postprocessor registered before it"
            )
        await self.producer().publish(result if isinstance(result, str) else bytes(result))
        return result

    async def republish(self, app: Application, message: Any) -> None:
        """A ``RETRY_CALLBACK`` for :mod:`doozer.contrib.retry`.

        Publishes a copy of the delivery to the end of ``AMQP_INBOUND_QUEUE``
        with the retry state in its ``x-doozer-retry`` header; Retry then
        aborts the message, so the original is acknowledged. Retry waits
        ``RETRY_DELAY`` (and its backoff) before calling it, while the
        original stays unacknowledged, so a crash during the wait loses
        nothing.

        :raises TypeError: if *message* did not come from this extension's consumer.
        """
        original = self._original(message)
        if original is None:
            raise TypeError(
                f"AMQP.republish() retries messages read by AMQP's consumer, not {message!r}"
            )
        state = _retry_state(message) if message is not original else None
        if state is None:
            state = original._retry or {}
        headers = {
            **original.headers,
            RETRY_HEADER: encode_retry_state(state),
        }
        if original.stale:
            self.app.logger.warning(
                "Not retrying %r: its connection was lost, so the broker delivers it again",
                original,
            )
            return
        try:
            await self._live_link.publish(
                "", self._config.inbound_queue or "", original._copy(headers), again=False
            )
        except LOST as exc:
            self.app.logger.warning(
                "Could not retry %r, the connection was lost (%r); the broker delivers it again",
                original,
                exc,
            )

    # -- the registered callbacks -------------------------------------------

    async def _open(self, app: Application) -> None:
        settings = self._config
        link = Link(
            settings.url,
            f"{app.name} (doozer, pid {os.getpid()})",
            app.logger,
            settings.reconnect_delay,
            settings.reconnect_max_delay,
        )
        if settings.outbound_exchange:
            link.hooks.append(self._declare_outbound)
        if self._consumer is not None:
            self._consumer._reset()
            link.hooks.append(self._consumer._setup)
        self._link = link
        await link.open()
        # Teardown callbacks registered after AMQP(app) may still publish:
        # close the connection after them.
        teardown = app.callbacks.teardown
        if self._close in teardown:
            teardown.remove(self._close)
            teardown.append(self._close)

    async def _close(self, app: Application) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        try:
            if self._consumer is not None:
                await self._consumer._close()
        finally:
            await link.close()

    async def _declare_outbound(self, connection: AbstractConnection, generation: int) -> None:
        settings = self._config
        channel = await connection.channel(publisher_confirms=False)
        await channel.declare_exchange(
            settings.outbound_exchange, settings.exchange_type, durable=True
        )
        await channel.close()

    async def _track(self, app: Application, message: Any) -> Any:
        _failure.set(None)
        if not isinstance(message, Message):
            _current.set(None)
            return message
        _current.set(message)
        if message.stale:
            # Read ahead before the connection was lost: the broker delivers
            # it again, so processing it now would only make a duplicate.
            raise Abort("message.stale", message)
        return message

    def _original(self, message: Any) -> Message | None:
        if isinstance(message, Message) and message._consumer is self._consumer:
            return message
        return _current.get()

    async def _on_error(self, app: Application, message: Any, exc: Exception) -> None:
        _failure.set(exc)
        original = self._original(message)
        if original is not None:
            original._failure = exc
        app.logger.error(
            "Error processing message %r; it goes to the dead-letter queue %r",
            message if original is None else original,
            self._config.dead_letter_queue,
            exc_info=exc,
        )

    async def _acknowledge(self, app: Application, message: Any) -> None:
        if not isinstance(message, Message) or message._consumer is not self._consumer:
            return
        failure = message._failure or _failure.get()
        _failure.set(None)
        if _current.get() is message:
            _current.set(None)
        if message.settled:
            return
        if message.stale:
            app.logger.warning(
                "Could not acknowledge %r: its connection was lost, so the broker delivers it "
                "again",
                message,
            )
            return
        try:
            if failure is not None:
                await self._dead_letter(message, failure)
            await message.ack()
        except LOST as exc:
            app.logger.warning(
                "Could not acknowledge %r: the connection was lost (%r), so the broker "
                "delivers it again",
                message,
                exc,
            )

    async def _dead_letter(self, message: Message, exc: BaseException) -> None:
        kind = type(exc)
        headers = {
            **message.headers,
            ERROR_HEADER: f"{kind.__name__}: {exc}"[:_MAX_REASON],
            ERROR_TYPE_HEADER: f"{kind.__module__}.{kind.__qualname__}",
            FAILED_AT_HEADER: datetime.now(timezone.utc).isoformat(),
            ORIGINAL_EXCHANGE_HEADER: message.exchange or "",
            ORIGINAL_ROUTING_KEY_HEADER: message.routing_key or "",
        }
        await self._live_link.publish(
            "", self._config.dead_letter_queue, message._copy(headers), again=False
        )


def _retry_state(message: Any) -> Mapping[str, Any] | None:
    state = (
        message.get("_retry")
        if isinstance(message, MutableMapping)
        else getattr(message, "_retry", None)
    )
    return state if isinstance(state, Mapping) else None

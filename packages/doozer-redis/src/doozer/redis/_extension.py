"""The :class:`RedisStreams` extension: wires the connection, consumer and producers."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from doozer import Extension

from ._connection import Connection
from ._consumer import Consumer, Group
from ._producer import Producer
from ._settings import DEFAULTS, DOCS, Settings, resolve

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["FALLBACK_BATCH", "STARTUP_ORDER", "TEARDOWN_ORDER", "RedisStreams"]

#: ``REDIS_BATCH`` when it is None and the number of workers is unknown.
FALLBACK_BATCH = 10
#: Where the connection opens among the startup callbacks: before the others.
STARTUP_ORDER = -1000
#: Where it closes among the teardown callbacks: after the others (they may publish).
TEARDOWN_ORDER = 1000


class RedisStreams(Extension):
    """Connects an application to Redis Streams.

    Initializing it checks the ``REDIS_*`` settings and registers a startup
    callback (order -1000: it runs before the others) that connects and
    creates the consumer group, and a teardown callback (order +1000: after
    the others) that acknowledges what is finished, hands back what is not,
    and closes the connection. Entries read by :meth:`consumer` are
    deliveries: Doozer settles each with its outcome (see :doc:`/redis`).

    :param app: the application to initialize, if known yet.
    """

    #: Settings and their defaults (see :doc:`/redis` for what each does).
    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = DEFAULTS
    SETTINGS_DOCS: ClassVar[Mapping[str, str]] = DOCS
    ONE_PER_APP: ClassVar[bool] = True

    def __init__(self, app: Application | None = None) -> None:
        self._settings: Settings | None = None
        self._connection: Connection | None = None
        self._consumer: Consumer | None = None
        super().__init__(app)

    def init_app(self, app: Application) -> None:
        """Check the ``REDIS_*`` settings and register the callbacks.

        :param app: the application to initialize.
        :raises TypeError: if a setting has the wrong type.
        :raises ValueError: if a setting has a wrong value (``REDIS_URL``
            included: one line, its password masked).
        :raises RuntimeError: if this instance, or another RedisStreams,
            already initialized an application.
        """
        super().init_app(app)
        settings = self._config
        self._connection = Connection(
            settings.url,
            app.logger,
            connect_timeout=settings.connect_timeout,
            min_delay=settings.reconnect_delay,
            max_delay=settings.reconnect_max_delay,
            tls={
                option: path
                for option, path in (
                    ("ssl_ca_certs", settings.tls_ca_file),
                    ("ssl_certfile", settings.tls_cert_file),
                    ("ssl_keyfile", settings.tls_key_file),
                )
                if path is not None
            },
        )
        app.startup(self._open, order=STARTUP_ORDER)
        app.teardown(self._close, order=TEARDOWN_ORDER)

    def read_settings(self, app: Application) -> None:
        """Check the ``REDIS_*`` settings (see :meth:`init_app`)."""
        self._settings = resolve(app.settings)

    @property
    def connection(self) -> Connection:
        """The application's :class:`Connection` to Redis."""
        return self.initialized(self._connection)

    @property
    def _config(self) -> Settings:
        return self.initialized(self._settings)

    # -- what the application uses -----------------------------------------

    def consumer(self) -> Consumer:
        """Return the consumer of ``REDIS_INBOUND_STREAM`` (always the same one).

        Use it as the application's consumer, before the application starts::

            app.consumer = redis.consumer()

        :raises KeyError: if ``REDIS_INBOUND_STREAM`` is not set.
        """
        settings = self._config
        if self._consumer is None:
            stream = settings.inbound_stream
            if not stream:
                raise KeyError(
                    "RedisStreams.consumer() needs the REDIS_INBOUND_STREAM setting: "
                    "set app.settings['REDIS_INBOUND_STREAM'] before initializing RedisStreams"
                )
            group = Group(
                stream=stream,
                group=settings.group or self.app.name,
                dead_letter_stream=settings.dead_letter_stream or f"{stream}.dead",
                retry_key=f"{stream}.retry",
                max_deliveries=settings.max_deliveries,
                claim_idle=settings.claim_idle,
            )
            self._consumer = Consumer(self.connection, group, self.app.logger, self.app)
        return self._consumer

    def producer(self, stream: str | None = None) -> Producer:
        """Return a producer adding entries to *stream* (by default ``REDIS_OUTBOUND_STREAM``).

        Entries are trimmed to about ``REDIS_MAXLEN`` when that is set.

        :raises KeyError: if neither *stream* nor ``REDIS_OUTBOUND_STREAM`` is set.
        """
        settings = self._config
        stream = stream or settings.outbound_stream
        if not stream:
            raise KeyError(
                "RedisStreams.producer() needs a stream: pass one, "
                "or set app.settings['REDIS_OUTBOUND_STREAM']"
            )
        return Producer(self.connection, stream, settings.maxlen, self.app)

    async def publish_result(self, app: Application, result: Any) -> Any:
        """A result postprocessor that adds each result to ``REDIS_OUTBOUND_STREAM``.

        Results must be bytes or strings (serialize them in a postprocessor
        registered before it); each becomes the ``body`` field of an entry::

            app.result_postprocessor(redis.publish_result)

        :raises TypeError: if a result is neither bytes nor a string.
        """
        if not isinstance(result, (bytes, bytearray, memoryview, str)):
            raise TypeError(
                f"publish_result() publishes bytes or strings, not {type(result).__name__}: "
                "serialize results in a result postprocessor registered before it"
            )
        await self.producer().publish(result if isinstance(result, str) else bytes(result))
        return result

    # -- the registered callbacks --------------------------------------------

    async def _open(self, app: Application) -> None:
        settings = self._config
        await self.connection.open()
        if self._consumer is not None:
            name = settings.consumer or f"{socket.gethostname()}-{os.getpid()}"
            workers = app.num_workers
            batch = settings.batch or (2 * workers if workers else FALLBACK_BATCH)
            await self._consumer.start(name, batch)

    async def _close(self, app: Application) -> None:
        try:
            if self._consumer is not None:
                await self._consumer.close()
        finally:
            await self.connection.close()

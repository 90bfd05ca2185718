"""The :class:`JetStream` extension: wires the connection, consumer and producers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from doozer import Extension

from ._connection import Connection
from ._consumer import Consumer, Source
from ._producer import Producer
from ._settings import DEFAULTS, DOCS, Settings, resolve, subject_matches

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["FALLBACK_BATCH", "STARTUP_ORDER", "TEARDOWN_ORDER", "JetStream"]

#: ``NATS_BATCH`` when it is None and the number of workers is unknown.
FALLBACK_BATCH = 10
#: Where the connection opens among the startup callbacks: before the others.
STARTUP_ORDER = -1000
#: Where it closes among the teardown callbacks: after the others (they may publish).
TEARDOWN_ORDER = 1000


class JetStream(Extension):
    """Connects an application to NATS JetStream.

    Initializing it checks the ``NATS_*`` settings and registers a startup
    callback (order -1000: it runs before the others) that connects and
    creates the streams and the durable consumer when missing, and a
    teardown callback (order +1000: after the others) that hands back what
    was not processed and closes the connection. Messages read by
    :meth:`consumer` are deliveries: Doozer settles each with its outcome
    (see :doc:`/nats`).

    :param app: the application to initialize, if known yet.
    """

    #: Settings and their defaults (see :doc:`/nats` for what each does).
    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = DEFAULTS
    SETTINGS_DOCS: ClassVar[Mapping[str, str]] = DOCS
    ONE_PER_APP: ClassVar[bool] = True

    def __init__(self, app: Application | None = None) -> None:
        self._settings: Settings | None = None
        self._connection: Connection | None = None
        self._consumer: Consumer | None = None
        super().__init__(app)

    def init_app(self, app: Application) -> None:
        """Check the ``NATS_*`` settings and register the callbacks.

        :param app: the application to initialize.
        :raises TypeError: if a setting has the wrong type.
        :raises ValueError: if a setting has a wrong value (``NATS_URL``
            included: one line, without its credentials).
        :raises RuntimeError: if this instance, or another JetStream,
            already initialized an application.
        """
        super().init_app(app)
        self._connection = Connection(self._config, app.logger, name=app.name)
        app.startup(self._open, order=STARTUP_ORDER)
        app.teardown(self._close, order=TEARDOWN_ORDER)

    def read_settings(self, app: Application) -> None:
        """Check the ``NATS_*`` settings (see :meth:`init_app`)."""
        self._settings = resolve(app.settings)

    @property
    def connection(self) -> Connection:
        """The application's :class:`Connection` to NATS."""
        return self.initialized(self._connection)

    @property
    def _config(self) -> Settings:
        return self.initialized(self._settings)

    # -- what the application uses -----------------------------------------

    def consumer(self) -> Consumer:
        """Return the consumer of ``NATS_STREAM`` (always the same one).

        Use it as the application's consumer, before the application starts::

            app.consumer = nats.consumer()

        :raises KeyError: if ``NATS_STREAM`` is not set.
        :raises ValueError: if the dead-letter subject falls under the stream's subjects.
        """
        settings = self._config
        if self._consumer is None:
            stream = settings.stream
            if not stream:
                raise KeyError(
                    "JetStream.consumer() needs the NATS_STREAM setting: "
                    "set app.settings['NATS_STREAM'] before initializing JetStream"
                )
            inbound = settings.inbound_subject
            subjects = settings.subjects or ((inbound,) if inbound else (f"{stream}.>",))
            dead = settings.dead_letter_subject or f"doozer.dead.{stream}"
            for pattern in subjects:
                if subject_matches(pattern, dead):
                    raise ValueError(
                        f"the dead-letter subject {dead!r} falls under the stream's subject "
                        f"{pattern!r}: set NATS_DEAD_LETTER_SUBJECT to a subject outside it"
                    )
            source = Source(
                stream=stream,
                subjects=subjects,
                filter_subject=inbound,
                durable=settings.durable or _as_name(self.app.name),
                dead_letter_subject=dead,
                dead_letter_stream=settings.dead_letter_stream or f"{stream}_dead",
                ack_wait=settings.ack_wait,
                max_deliver=settings.max_deliver,
            )
            app = self.app
            self._consumer = Consumer(
                self.connection, source, app.logger, stopping=lambda: app.stopping, app=app
            )
        return self._consumer

    def producer(self, subject: str | None = None) -> Producer:
        """Return a producer publishing to *subject* (by default ``NATS_OUTBOUND_SUBJECT``).

        A stream must capture the subject: JetStream acknowledges each message.

        :raises KeyError: if neither *subject* nor ``NATS_OUTBOUND_SUBJECT`` is set.
        """
        subject = subject or self._config.outbound_subject
        if not subject:
            raise KeyError(
                "JetStream.producer() needs a subject: pass one, "
                "or set app.settings['NATS_OUTBOUND_SUBJECT']"
            )
        return Producer(self.connection, subject, self.app)

    async def publish_result(self, app: Application, result: Any) -> Any:
        """A result postprocessor that publishes each result to ``NATS_OUTBOUND_SUBJECT``.

        Results must be bytes or strings (serialize them in a postprocessor
        registered before it)::

            app.result_postprocessor(nats.publish_result)

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
        await self.connection.open()
        if self._consumer is not None:
            workers = app.num_workers
            batch = self._config.batch or (2 * workers if workers else FALLBACK_BATCH)
            await self._consumer.start(batch)

    async def _close(self, app: Application) -> None:
        try:
            if self._consumer is not None:
                await self._consumer.close()
        finally:
            await self.connection.close()


def _as_name(name: str) -> str:
    # A durable's name may not hold dots, spaces, wildcards or slashes.
    return re.sub(r"[.\s*>/\\]+", "_", name) or "doozer"

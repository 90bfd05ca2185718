"""The :class:`Database` extension: an engine per application, a session per message."""

from __future__ import annotations

import reprlib
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from doozer import Abort, Extension
from doozer.outcomes import Failed, Outcome, Succeeded, Unfinished

from ._engine import connect, make_engine, summary, unreachable
from ._settings import DEFAULTS, DOCS, Settings, resolve

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["STARTUP_ORDER", "TEARDOWN_ORDER", "WRAPPER_ORDER", "Database"]

#: The engine is made before the transports connect (-1000): no message is
#: taken from a broker while the database cannot be reached.
STARTUP_ORDER = -1100
#: ... and disposed of after every other teardown callback, transports included.
TEARDOWN_ORDER = 1100
#: The session wrapper sits inside the tracing wrapper (-1000), so the commit
#: is part of the span and of the measured processing time, and
#: outside the application's own wrappers (0), which see the session.
WRAPPER_ORDER = -100


class Database(Extension):
    """SQLAlchemy (asyncio) for a Doozer application.

    Initializing it on an application registers:

    * a startup callback (``order=-1100``, before the transports connect)
      that makes the engine and connects, trying again with backoff for
      ``DATABASE_CONNECT_TIMEOUT`` seconds, and a teardown callback
      (``order=1100``, after every other one) that disposes of the engine;
    * a message wrapper (``order=-100``) that opens a session for each
      message, available as :attr:`session` while the message is processed,
      and commits it when the message succeeded, before it is settled
      (acknowledged), or rolls it back when it was aborted, failed, is
      retried later or is unfinished;
    * the ``doozer --app APP db ...`` commands, which run Alembic
      migrations (see :doc:`/database`).

    :param app: the application to initialize, if known yet.
    :param metadata: the :class:`~sqlalchemy.schema.MetaData` of your models
        (``Base.metadata``), compared with the database by
        ``db revision --autogenerate``.
    """

    #: Settings and their defaults (``DATABASE_URL`` is required).
    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = DEFAULTS
    REQUIRED_SETTINGS: ClassVar[tuple[str, ...]] = ("DATABASE_URL",)
    SETTINGS_DOCS: ClassVar[Mapping[str, str]] = DOCS
    ONE_PER_APP: ClassVar[bool] = True

    def __init__(self, app: Application | None = None, *, metadata: MetaData | None = None) -> None:
        #: The models' metadata, for ``db revision --autogenerate``.
        self.metadata = metadata
        self._settings: Settings | None = None
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        # The session of the message the current task is processing.
        self._current: ContextVar[AsyncSession | None] = ContextVar("doozer_database_session")
        super().__init__(app)

    def __repr__(self) -> str:
        url = self._settings.safe_url if self._settings else None
        return f"<{type(self).__name__} url={url!r}>"

    def init_app(self, app: Application) -> None:
        """Check the ``DATABASE_*`` settings and register the callbacks and commands.

        Nothing connects yet: the engine is made at startup.

        :raises KeyError: if ``DATABASE_URL`` is not set.
        :raises TypeError: if a setting has the wrong type.
        :raises ValueError: if a setting has a wrong value: a ``DATABASE_URL``
            that is not the URL of an installed asyncio driver, for one (the
            message never shows the password).
        :raises RuntimeError: if this instance, or another Database, already
            initialized an application.
        """
        if app.settings.get("DATABASE_URL") is None:
            # Before the base class's check of REQUIRED_SETTINGS: an example says more.
            raise KeyError(
                "Database needs the setting DATABASE_URL (for example "
                "postgresql+asyncpg://user:password@host/dbname): set "
                "app.settings['DATABASE_URL'] before initializing Database"
            )
        super().init_app(app)
        app.startup(self._start, order=STARTUP_ORDER)
        app.teardown(self._stop, order=TEARDOWN_ORDER)
        app.message_wrapper(self._wrap, order=WRAPPER_ORDER)

    def read_settings(self, app: Application) -> None:
        """Check the ``DATABASE_*`` settings (see :meth:`init_app`)."""
        self._settings = resolve(app.settings)

    def register_cli(self) -> None:
        """Add the ``db`` commands to the ``doozer`` command line."""
        from ._commands import register

        register()

    # -- what the application uses ---------------------------------------------

    @property
    def _config(self) -> Settings:
        return self.initialized(self._settings)

    @property
    def engine(self) -> AsyncEngine:
        """The :class:`~sqlalchemy.ext.asyncio.AsyncEngine`, from startup to teardown.

        :raises RuntimeError: if the application is not running.
        """
        if self._engine is None:
            raise RuntimeError(
                "Database.engine exists while the application runs (from startup to "
                "teardown): it is made by a startup callback"
            )
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """Makes sessions outside of messages (startup callbacks, tasks of your own)::

            async with db.sessionmaker() as session, session.begin():
                session.add(...)

        :raises RuntimeError: if the application is not running.
        """
        if self._sessionmaker is None:
            self.engine  # noqa: B018 - raises the explanatory RuntimeError
        assert self._sessionmaker is not None
        return self._sessionmaker

    @property
    def session(self) -> AsyncSession:
        """The session of the message being processed (by this task).

        Preprocessors, the callback, postprocessors, error and acknowledgement
        callbacks and message wrappers of a higher order see it. Do not
        commit it: Database commits it once the message succeeded.

        :raises RuntimeError: outside the processing of a message.
        """
        session = self._current.get(None)
        if session is None:
            raise RuntimeError(
                "Database.session exists only while a message is processed: elsewhere "
                "use 'async with db.sessionmaker() as session'"
            )
        return session

    # -- callbacks --------------------------------------------------------------

    async def _start(self, app: Application) -> None:
        engine = make_engine(self._config, app.num_workers)
        try:
            await connect(engine, self._config, app.logger)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    async def _stop(self, app: Application) -> None:
        engine, self._engine, self._sessionmaker = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    async def _wrap(
        self, app: Application, message: Any, process: Callable[[], Awaitable[Outcome]]
    ) -> Outcome:
        async with self.sessionmaker() as session:
            token = self._current.set(session)
            try:
                outcome = await process()
                if isinstance(outcome, Succeeded):
                    try:
                        await session.commit()
                    except Exception as exc:
                        outcome = await self._commit_failed(app, message, exc)
                else:
                    # Aborted, Failed, RetryLater, Unfinished: nothing stays behind.
                    await session.rollback()
            finally:
                self._current.reset(token)
        return outcome

    async def _commit_failed(self, app: Application, message: Any, exc: Exception) -> Outcome:
        """The outcome of a message whose processing succeeded and whose commit failed.

        Nothing was committed. The failure policies decide first (a Retry
        may retry it later); a database that cannot be reached makes the
        message go back to its source at once; any other error (a
        constraint violated when the last changes were flushed, say) is a
        failure of the message: the error callbacks run.
        """
        for policy in app.callbacks.failure_policy:
            decided = await policy(app, message, message, exc)
            if decided is not None:
                return decided
        shown = reprlib.repr(message)
        if unreachable(exc):
            app.logger.warning(
                "Could not commit the session of message %s (%s): handing it back",
                shown,
                summary(exc),
            )
            return Unfinished(f"commit failed: {summary(exc)}", exc)
        errors = app.callbacks.error
        if not errors:
            app.logger.error("Could not commit the session of message %s", shown, exc_info=exc)
        for on_error in errors:
            try:
                await on_error(app, message, exc)
            except Abort:
                break
        return Failed(exc)

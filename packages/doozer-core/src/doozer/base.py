"""The :class:`Application`: a consumer, its callbacks, and how they run."""

from __future__ import annotations

import importlib
import inspect
import logging
import numbers
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .config import Config
from .types import (
    AcknowledgementCallback,
    Callback,
    ErrorCallback,
    LifecycleCallback,
    MessageCallback,
    ResultCallback,
)

if TYPE_CHECKING:
    # asyncio (and the engine, which needs it) is imported when an application
    # runs, not by `import doozer`: it is most of the import time otherwise.
    import asyncio

__all__ = ["Application", "Callbacks"]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SETTINGS: dict[str, Any] = {"DEBUG": False, "SHUTDOWN_TIMEOUT": 30}


@dataclass
class Callbacks:
    """The registered callbacks of an application, in the order they run.

    Each attribute is a plain list, so an extension can reorder it (Retry,
    for instance, puts its error callback first).
    """

    startup: list[LifecycleCallback] = field(default_factory=list)
    message_preprocessor: list[MessageCallback] = field(default_factory=list)
    result_postprocessor: list[ResultCallback] = field(default_factory=list)
    error: list[ErrorCallback] = field(default_factory=list)
    message_acknowledgement: list[AcknowledgementCallback] = field(default_factory=list)
    teardown: list[LifecycleCallback] = field(default_factory=list)


class Application:
    """A service that feeds each message from a consumer to a callback.

    :param name: the application's name, also the name of its logger.
    :param settings: an object (module, class, instance) whose UPPERCASE
        attributes become settings, or a mapping whose UPPERCASE keys do.
    :param consumer: an object with a coroutine method ``read()`` that
        returns the next message (see :class:`doozer.types.Consumer`).
        Required before :meth:`run_forever`.
    :param callback: a coroutine function ``callback(app, message)`` that
        processes a message and returns an iterable of results, or None.
        Required before :meth:`run_forever`.

    Settings the application itself reads: ``DEBUG`` (default False) and
    ``SHUTDOWN_TIMEOUT`` (seconds that stopping, on a signal or an
    unhandled exception, may take: draining in-flight messages and
    teardown; default 30; None waits forever).
    """

    def __init__(
        self,
        name: str,
        settings: object | None = None,
        *,
        consumer: Any = None,
        callback: Callback | None = None,
    ) -> None:
        #: The application's name.
        self.name = name
        #: The settings (a :class:`~doozer.config.Config`), shared with extensions.
        self.settings = Config(DEFAULT_SETTINGS)
        if isinstance(settings, Mapping):
            self.settings.from_mapping(settings)
        elif isinstance(settings, (str, bytes, numbers.Number)):
            raise TypeError(
                f"settings must be a mapping or an object with UPPERCASE attributes "
                f"(a module or class), not {type(settings).__name__}"
            )
        elif settings is not None:
            self.settings.from_object(settings)
        #: Where messages come from: an object with a coroutine method ``read()``.
        self.consumer = consumer
        #: The coroutine function that processes each message.
        self.callback = callback
        #: The registered callbacks, one list per kind (:class:`~doozer.base.Callbacks`).
        self.callbacks = Callbacks()
        #: Extensions initialized on this application, by lowercased class name.
        self.extensions: dict[str, Any] = {}
        #: ``logging.getLogger(name)``: Doozer logs here, and so can callbacks.
        self.logger = logging.getLogger(name)
        #: The number of workers of the current (or last) :meth:`run_forever`,
        #: None before it starts; set before the startup callbacks run, so
        #: extensions can size what they need (a broker's prefetch, a pool).
        self.num_workers: int | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- registration ----------------------------------------------------

    def _register(self, kind: str, callback: F) -> F:
        if not inspect.iscoroutinefunction(callback):
            raise TypeError(
                f"{kind} callback {_name_of(callback)} must be a coroutine function "
                f"(defined with 'async def'), not {type(callback).__name__}"
            )
        getattr(self.callbacks, kind).append(callback)
        return callback

    def startup(self, callback: F) -> F:
        """Register ``callback(app)`` to run once, before any message is read.

        :returns: the callback, so this works as a decorator.
        :raises TypeError: if the callback is not a coroutine function.
        """
        return self._register("startup", callback)

    def message_preprocessor(self, callback: F) -> F:
        """Register ``callback(app, message)`` to run on each message first.

        Preprocessors run in registration order, each receiving what the
        previous one returned; the last return value goes to the callback.

        :returns: the callback.
        :raises TypeError: if the callback is not a coroutine function.
        """
        return self._register("message_preprocessor", callback)

    def result_postprocessor(self, callback: F) -> F:
        """Register ``callback(app, result)`` to run on each result.

        Postprocessors are chained like preprocessors, once per result the
        callback returned. Raising :class:`~doozer.Abort` drops that result
        only; any other exception stops the application.

        :returns: the callback.
        :raises TypeError: if the callback is not a coroutine function.
        """
        return self._register("result_postprocessor", callback)

    def error(self, callback: F) -> F:
        """Register ``callback(app, message, exception)`` for failed messages.

        Error callbacks run, in order, when a preprocessor or the callback
        raises; raising :class:`~doozer.Abort` in one skips the rest.
        When none is registered the exception is logged.

        :returns: the callback.
        :raises TypeError: if the callback is not a coroutine function.
        """
        return self._register("error", callback)

    def message_acknowledgement(self, callback: F) -> F:
        """Register ``callback(app, original_message)`` to run when a message is done.

        It receives the very object the consumer returned, once the message
        succeeded, was aborted, or its error was handled.

        :returns: the callback.
        :raises TypeError: if the callback is not a coroutine function.
        """
        return self._register("message_acknowledgement", callback)

    def teardown(self, callback: F) -> F:
        """Register ``callback(app)`` to run once, when the application stops.

        :returns: the callback.
        :raises TypeError: if the callback is not a coroutine function.
        """
        return self._register("teardown", callback)

    # -- running ---------------------------------------------------------

    def run_forever(
        self,
        num_workers: int = 1,
        loop: asyncio.AbstractEventLoop | None = None,
        debug: bool = False,
    ) -> None:
        """Consume messages until the consumer ends or the process is signalled.

        Runs the startup callbacks, then *num_workers* concurrent workers
        (reading at most *num_workers* messages ahead), then the teardown
        callbacks. SIGINT or SIGTERM stops reading and lets every message
        already read finish; a second signal cancels them.

        :param num_workers: how many messages are processed concurrently.
        :param loop: the event loop to run on. By default a new loop is
            made (with uvloop when it is installed) and closed at the end;
            a loop passed in is left open for its owner.
        :param debug: enable debug mode (also enabled by the ``DEBUG``
            setting or the ``PYTHONASYNCIODEBUG`` environment variable).
        :raises TypeError: if the consumer or callback is missing or unfit.
        :raises ValueError: if *num_workers* or ``SHUTDOWN_TIMEOUT`` is invalid.
        :raises Exception: the first unhandled exception, after the
            application stopped gracefully.
        :raises TimeoutError: if stopping took longer than ``SHUTDOWN_TIMEOUT``.
        """
        from ._engine import Engine  # imports asyncio: see the top of this module

        self._check_runnable(num_workers)
        self.num_workers = num_workers
        own_loop = loop is None
        running_loop = _new_event_loop() if loop is None else loop
        if debug or self.settings.get("DEBUG") or os.environ.get("PYTHONASYNCIODEBUG"):
            self._enable_debug(running_loop)
        engine = Engine(self, num_workers)
        restore_signals = _handle_signals(running_loop, engine.on_signal)
        try:
            running_loop.run_until_complete(engine.serve())
        finally:
            restore_signals()
            if own_loop:
                _close(running_loop)

    def _check_runnable(self, num_workers: object) -> None:
        if self.consumer is None:
            raise TypeError(
                f"{self!r} has no consumer: pass consumer=... to Application() "
                "or set app.consumer before run_forever()"
            )
        if not inspect.iscoroutinefunction(getattr(self.consumer, "read", None)):
            raise TypeError(
                f"the consumer {type(self.consumer).__name__} needs a coroutine method "
                "read() (defined with 'async def read(self)')"
            )
        if not inspect.iscoroutinefunction(self.callback):
            raise TypeError(
                f"{self!r} needs a callback defined with 'async def callback(app, message)', "
                f"got {self.callback!r}"
            )
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(
                f"num_workers must be a whole number of at least 1, got {num_workers!r}"
            )
        timeout = self.settings.get("SHUTDOWN_TIMEOUT")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
        ):
            raise ValueError(
                f"the SHUTDOWN_TIMEOUT setting must be a number of seconds >= 0, or None, "
                f"got {timeout!r}"
            )

    def _enable_debug(self, loop: asyncio.AbstractEventLoop) -> None:
        # Decided before the startup callbacks run, so they see it too.
        self.settings["DEBUG"] = True
        loop.set_debug(True)
        if self.logger.getEffectiveLevel() > logging.DEBUG:
            self.logger.setLevel(logging.DEBUG)


def _name_of(obj: object) -> str:
    return repr(getattr(obj, "__qualname__", obj))


def _new_event_loop() -> asyncio.AbstractEventLoop:
    import asyncio

    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _handle_signals(
    loop: asyncio.AbstractEventLoop, handler: Callable[[int], None]
) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to *handler*; return what undoes it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler_before = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, handler, signum)
        except (NotImplementedError, RuntimeError):  # Windows, or no signal support
            continue
        previous[signum] = handler_before

    def restore() -> None:
        for signum, handler_before in previous.items():
            loop.remove_signal_handler(signum)
            if handler_before is not None:  # None: set outside Python, cannot restore
                signal.signal(signum, handler_before)

    return restore


def _close(loop: asyncio.AbstractEventLoop) -> None:
    import asyncio

    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()

"""The :class:`Application`: a consumer, its callbacks, and how they run."""

from __future__ import annotations

import functools
import logging
import numbers
import os
from collections.abc import Awaitable, Callable, Hashable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._registry import CallbackList, Callbacks, check_async_callable
from .config import Config
from .types import Callback, is_async_callable

if TYPE_CHECKING:
    # asyncio (and the engine, which needs it) is imported when an application
    # runs, not by `import doozer`: it is most of the import time otherwise.
    import asyncio

    from ._engine import Engine

__all__ = ["Application", "CallbackList", "Callbacks"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

DEFAULT_SETTINGS: dict[str, Any] = {"DEBUG": False, "SHUTDOWN_TIMEOUT": 30}
#: Settings the application reads only when they are set (it has its own fallback).
OPTIONAL_SETTINGS: tuple[str, ...] = ("ORDERING_RETRIES",)
#: What each setting of the application itself means (reStructuredText), as
#: :attr:`doozer.extensions.Extension.SETTINGS_DOCS` is for an extension.
SETTINGS_DOCS: dict[str, str] = {
    "DEBUG": (
        "Turns on debug mode (asyncio's debug mode, and the application's logger at "
        "``DEBUG``) for every run; ``run_forever(debug=True)`` and ``PYTHONASYNCIODEBUG`` "
        "do too."
    ),
    "SHUTDOWN_TIMEOUT": (
        "Seconds that stopping (a signal, :meth:`~doozer.Application.stop`, an unhandled "
        "exception) may take to finish in-flight messages and run teardown; then what still "
        "runs is cancelled and the run raises :exc:`TimeoutError`. ``None`` waits as long as "
        "it takes."
    ),
    "ORDERING_RETRIES": (
        "With an ordering key, what a retried message does to its key's order: "
        '``"relaxed"`` (what applies when it is not set, and the only mode: ``"strict"`` is '
        "refused) frees the key at once, and later messages go ahead."
    ),
}


class Application:
    """A service that feeds each message from a consumer to a callback.

    :param name: the application's name, also the name of its logger.
    :param settings: an object (module, class, instance) whose UPPERCASE
        attributes become settings, or a mapping whose UPPERCASE keys do.
    :param consumer: an object with a coroutine method ``read()`` that
        returns the next message (see :class:`doozer.types.Consumer`).
        Required before the application runs.
    :param callback: a coroutine function ``callback(app, message)`` that
        processes a message and returns an iterable of results, or None.
        Required before the application runs.
    :param ordering_key: a function ``ordering_key(message)`` that returns a
        hashable key for the message as the consumer returned it, or None:
        messages with equal keys are then processed one at a time, in the
        order they were read; others (and None) in parallel (see
        :doc:`/ordering`). :meth:`serve` and :meth:`run_forever` can override it.
    :raises TypeError: if *settings*, *callback* or *ordering_key* is of the wrong kind.

    Settings the application itself reads: ``DEBUG`` (default False) and
    ``SHUTDOWN_TIMEOUT`` (seconds that stopping, on a signal, :meth:`stop`
    or an unhandled exception, may take: draining in-flight messages and
    teardown; default 30; None waits forever). With an ordering key,
    ``ORDERING_RETRIES`` (``"relaxed"``, the default and only choice: see
    :doc:`/ordering`).
    """

    def __init__(
        self,
        name: str,
        settings: object | None = None,
        *,
        consumer: Any = None,
        callback: Callback | None = None,
        ordering_key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        if ordering_key is not None:
            from ._ordering import check_ordering_key  # imports asyncio: see below

            check_ordering_key(ordering_key)
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
        self._callback: Callback | None = None
        self.callback = callback
        #: The registered callbacks, one :class:`~doozer.base.CallbackList` per kind.
        self.callbacks = Callbacks()
        #: Extensions initialized on this application, by lowercased class name.
        self.extensions: dict[str, Any] = {}
        #: ``logging.getLogger(name)``: Doozer logs here, and so can callbacks.
        self.logger = logging.getLogger(name)
        #: The number of workers of the current (or last) run, None before the
        #: first; set before the startup callbacks run, so extensions can size
        #: what they need (a broker's prefetch, a pool).
        self.num_workers: int | None = None
        #: The ordering key function (see :doc:`/ordering`), or None: no ordering.
        self.ordering_key = ordering_key
        #: Whether the workers keep :func:`doozer.current_message` up to date
        #: (read when a run starts). Off by default, for it costs a context
        #: variable per message (about 4 % of the engine's own time);
        #: :class:`~doozer.contrib.logging.Logging` turns it on.
        self.track_current_message = False
        self._engine: Engine | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    @property
    def callback(self) -> Callback | None:
        """The coroutine function that processes each message.

        :raises TypeError: when set to something that is not async callable.
        """
        return self._callback

    @callback.setter
    def callback(self, callback: Callback | None) -> None:
        if callback is not None:
            check_async_callable("the callback", callback)
        self._callback = callback

    # -- registration ----------------------------------------------------

    def _register(self, kind: str, callback: F, order: int) -> F:
        check_async_callable(f"{kind} callback", callback)
        if isinstance(order, bool) or not isinstance(order, int):
            raise TypeError(f"order must be a whole number, got {order!r}")
        getattr(self.callbacks, kind).add(callback, order)
        return callback

    def startup(self, callback: F, *, order: int = 0) -> F:
        """Register ``callback(app)`` to run once, before any message is read.

        :param order: where it runs among the startup callbacks: lower
            first, equal ones in registration order (see :ref:`hook-order`).
        :returns: the callback, so this works as a decorator.
        :raises TypeError: if the callback is not async callable.
        """
        return self._register("startup", callback, order)

    def message_preprocessor(self, callback: F, *, order: int = 0) -> F:
        """Register ``callback(app, message)`` to run on each message first.

        Preprocessors run in registration order, each receiving what the
        previous one returned; the last return value goes to the callback.

        :param order: where it runs among the preprocessors (see :ref:`hook-order`).
        :returns: the callback.
        :raises TypeError: if the callback is not async callable.
        """
        return self._register("message_preprocessor", callback, order)

    def result_postprocessor(self, callback: F, *, order: int = 0) -> F:
        """Register ``callback(app, result)`` to run on each result.

        Postprocessors are chained like preprocessors, once per result the
        callback returned. Raising :class:`~doozer.Abort` drops that result
        only; any other exception stops the application.

        :param order: where it runs among the postprocessors (see :ref:`hook-order`).
        :returns: the callback.
        :raises TypeError: if the callback is not async callable.
        """
        return self._register("result_postprocessor", callback, order)

    def error(self, callback: F, *, order: int = 0) -> F:
        """Register ``callback(app, message, exception)`` for failed messages.

        Error callbacks run, in order, when a preprocessor or the callback
        raises and no failure policy decided to retry the message; raising
        :class:`~doozer.Abort` in one skips the rest. When none is
        registered the exception is logged. The message's outcome is
        :class:`~doozer.outcomes.Failed`.

        :param order: where it runs among the error callbacks (see :ref:`hook-order`).
        :returns: the callback.
        :raises TypeError: if the callback is not async callable.
        """
        return self._register("error", callback, order)

    def message_acknowledgement(self, callback: F, *, order: int = 0) -> F:
        """Register ``callback(app, original_message)`` to run when a message is done.

        It receives the very object the consumer returned, once the message
        succeeded, was aborted, failed or is to be retried later.

        :param order: where it runs among the acknowledgement callbacks.
        :returns: the callback.
        :raises TypeError: if the callback is not async callable.
        """
        return self._register("message_acknowledgement", callback, order)

    def teardown(self, callback: F, *, order: int = 0) -> F:
        """Register ``callback(app)`` to run once, when the application stops.

        :param order: where it runs among the teardown callbacks (see :ref:`hook-order`).
        :returns: the callback.
        :raises TypeError: if the callback is not async callable.
        """
        return self._register("teardown", callback, order)

    def message_outcome(self, callback: F, *, order: int = 0) -> F:
        """Register ``callback(app, original_message, outcome)`` to see each message's fate.

        It runs once per message read, after the message was settled, with
        the very object the consumer returned and its
        :class:`~doozer.outcomes.Outcome` (also for messages that a forced
        stop left unfinished). Metrics, audit logs and tests use it. An
        exception it raises stops the application.

        :param order: where it runs among the outcome callbacks.
        :returns: the callback.
        :raises TypeError: if the callback is not async callable.
        """
        return self._register("message_outcome", callback, order)

    def message_observer(self, observer: F, *, order: int = 0) -> F:
        """Register ``observer(app, original_message, outcome, duration)``, a plain function.

        It is called inline once per message, right after the message was
        settled (before the ``message_outcome`` callbacks), with its
        :class:`~doozer.outcomes.Outcome` and how long it took from the
        moment a worker started it, in seconds (0 for a message a forced
        stop cut short or handed back unstarted: it is not timed). It cannot await: it is for cheap
        bookkeeping such as metrics, which then cost a function call per
        message instead of a coroutine. An exception it raises stops the
        application.

        :param order: where it is called among the observers.
        :returns: the observer.
        :raises TypeError: if the observer is a coroutine function (it would
            never be awaited) or not callable.
        """
        if is_async_callable(observer) or not callable(observer):
            raise TypeError(
                f"message_observer {observer!r} must be a plain function "
                "(def, not async def): it is called inline and cannot await"
            )
        if isinstance(order, bool) or not isinstance(order, int):
            raise TypeError(f"order must be a whole number, got {order!r}")
        self.callbacks.message_observer.add(observer, order)
        return observer

    def publish_wrapper(self, wrapper: F, *, order: int = 0) -> F:
        """Register ``wrapper(app, destination, headers, publish)`` around every publish.

        Transports run each message they publish for the application
        (results, retries, dead letters) through :meth:`publishing`, which
        calls the wrappers, lowest order outermost. *headers* is the mutable
        mapping of headers the message will carry (a tracing extension
        injects its context there); ``await publish()`` sends the message
        and returns what the transport returns, which the wrapper returns.

        :param order: where it nests among the publish wrappers.
        :returns: the wrapper.
        :raises TypeError: if the wrapper is not async callable.
        """
        return self._register("publish_wrapper", wrapper, order)

    async def publishing(
        self,
        destination: str,
        headers: MutableMapping[str, Any],
        publish: Callable[[], Awaitable[T]],
    ) -> T:
        """Run ``await publish()`` inside the registered publish wrappers.

        For transports: call it for every message published on the
        application's behalf, with the name of where it goes (exchange and
        routing key, stream, subject) and the headers it will carry, which
        the wrappers may add to before ``publish`` reads them. Without
        wrappers it is ``await publish()``.
        """
        wrappers = self.callbacks.publish_wrapper
        if not wrappers:
            return await publish()
        call = publish
        for wrapper in reversed(wrappers):
            call = functools.partial(wrapper, self, destination, headers, call)
        result: T = await call()
        return result

    @property
    def messages_read(self) -> int:
        """How many messages the current run read so far (0 when it is not running)."""
        return 0 if self._engine is None else self._engine.messages_read

    def failure_policy(self, policy: F, *, order: int = 0) -> F:
        """Register ``policy(app, original, message, exception)`` to decide a failure.

        When a preprocessor or the callback raises (anything but
        :class:`~doozer.Abort`), the policies are asked in order; the first
        that returns an :class:`~doozer.outcomes.Outcome` decides the
        message's outcome (typically :class:`~doozer.outcomes.RetryLater`)
        and the error callbacks do not run. When every policy returns None
        the error callbacks run and the outcome is
        :class:`~doozer.outcomes.Failed`. *original* is what the consumer
        returned (a delivery carries the attempt), *message* what the
        preprocessors made of it. :class:`doozer.contrib.retry.Retry` is one.

        :param order: where it is asked among the policies.
        :returns: the policy.
        :raises TypeError: if the policy is not async callable.
        """
        return self._register("failure_policy", policy, order)

    def message_wrapper(self, wrapper: F, *, order: int = 0) -> F:
        """Register ``wrapper(app, message, process)`` around the processing of each message.

        ``await process()`` runs the message's preprocessors, callback,
        postprocessors or error handling, and acknowledgement callbacks, and
        returns its :class:`~doozer.outcomes.Outcome`; the wrapper returns
        the outcome (usually the same). A wrapper can make something
        current while the callbacks run (a tracing span), time them, or
        decide not to process the message at all by returning an outcome
        without calling ``process``. Wrappers nest: the lowest order is
        outermost. The message is settled after the outermost wrapper returns.

        :param order: where it nests (see :ref:`hook-order`).
        :returns: the wrapper.
        :raises TypeError: if the wrapper is not async callable.
        """
        return self._register("message_wrapper", wrapper, order)

    # -- running ---------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the application is running (from startup to the end of teardown)."""
        return self._engine is not None

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested and the application is finishing what it read."""
        return self._engine is not None and self._engine.stopping

    @property
    def consuming(self) -> bool:
        """Whether startup finished and the application reads messages (no stop requested)."""
        return self._engine is not None and self._engine.consuming

    @property
    def read_ahead(self) -> int:
        """How many messages were read and wait for a worker (0 when not running)."""
        return 0 if self._engine is None else self._engine.read_ahead

    def stop(self) -> None:
        """Ask the running application to stop gracefully.

        It stops reading, finishes every message already read, runs the
        teardown callbacks and returns from :meth:`serve` (or
        :meth:`run_forever`), as on SIGTERM; ``SHUTDOWN_TIMEOUT`` bounds it.
        Callable from any callback, task or signal handler on the
        application's event loop (from another thread use
        ``loop.call_soon_threadsafe(app.stop)``); does nothing when the
        application is not running or already stopping.
        """
        if self._engine is not None:
            self._engine.stop()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``await callback(*args)`` after *delay* seconds, as part of the work in flight.

        The application does not finish until it ran, but never waits out
        the delay when stopping: a stop (signal, :meth:`stop`, unhandled
        exception) runs every pending call at once, before teardown.
        :class:`doozer.contrib.retry.Retry` hands plain messages back to
        ``RETRY_CALLBACK`` this way. An exception it raises stops the
        application.

        :raises RuntimeError: if the application is not running.
        :raises TypeError: if *callback* is not async callable.
        """
        check_async_callable("call_later callback", callback)
        if self._engine is None:
            raise RuntimeError(f"{self!r} is not running: call_later() needs a running application")
        self._engine.call_later(delay, callback, args)

    async def serve(
        self,
        num_workers: int = 1,
        *,
        debug: bool = False,
        ordering_key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        """Run the application in the event loop that is already running.

        Runs the startup callbacks, then *num_workers* concurrent workers
        (reading at most *num_workers* messages ahead), until the consumer
        ends consumption or :meth:`stop` is called, then the teardown
        callbacks. It installs no signal handlers: the program that owns
        the event loop owns them (call :meth:`stop` from yours). Cancelling
        the task that awaits it is a forced stop: messages in flight are
        settled as unfinished and teardown still runs.

        :param num_workers: how many messages are processed concurrently.
        :param debug: enable debug mode (also enabled by the ``DEBUG``
            setting or the ``PYTHONASYNCIODEBUG`` environment variable).
        :param ordering_key: the ordering key function for this run, instead
            of the application's :attr:`ordering_key` (None: the application's).
        :raises TypeError: if the consumer, callback or ordering key is missing or unfit.
        :raises ValueError: if *num_workers*, ``SHUTDOWN_TIMEOUT`` or
            ``ORDERING_RETRIES`` is invalid.
        :raises RuntimeError: if the application is running already.
        :raises Exception: the first unhandled exception, after the
            application stopped gracefully.
        :raises TimeoutError: if stopping took longer than ``SHUTDOWN_TIMEOUT``.
        """
        import asyncio

        from ._engine import Engine  # imports asyncio: see the top of this module
        from ._ordering import check_ordering

        self._check_runnable(num_workers)
        key = self.ordering_key if ordering_key is None else ordering_key
        if key is not None:
            check_ordering(key, self.settings)
        if self._engine is not None:
            raise RuntimeError(f"{self!r} is running already: it runs once at a time")
        self.num_workers = num_workers
        if debug or self.settings.get("DEBUG") or os.environ.get("PYTHONASYNCIODEBUG"):
            self._enable_debug(asyncio.get_running_loop())
        self._engine = engine = Engine(self, num_workers, key)
        try:
            await engine.run()
        finally:
            self._engine = None

    def run_forever(
        self,
        num_workers: int = 1,
        loop: asyncio.AbstractEventLoop | None = None,
        debug: bool = False,
        *,
        ordering_key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        """Run the application until the consumer ends or the process is signalled.

        This is :meth:`serve` on an event loop of its own, plus signal
        handling: SIGINT or SIGTERM stops reading and lets every message
        already read finish; a second signal cancels them.

        :param num_workers: how many messages are processed concurrently.
        :param loop: the event loop to run on. By default a new loop is
            made (with uvloop when it is installed) and closed at the end;
            a loop passed in is left open for its owner.
        :param debug: enable debug mode (also enabled by the ``DEBUG``
            setting or the ``PYTHONASYNCIODEBUG`` environment variable).
        :param ordering_key: the ordering key function for this run, instead
            of the application's :attr:`ordering_key` (None: the application's).
        :raises RuntimeError: if called from a running event loop (there,
            ``await app.serve()``).
        :raises TypeError: if the consumer, callback or ordering key is missing or unfit.
        :raises ValueError: if *num_workers*, ``SHUTDOWN_TIMEOUT`` or
            ``ORDERING_RETRIES`` is invalid.
        :raises Exception: the first unhandled exception, after the
            application stopped gracefully.
        :raises TimeoutError: if stopping took longer than ``SHUTDOWN_TIMEOUT``.
        """
        from ._loop import close_loop, handle_signals, new_event_loop, running_loop

        if running_loop() is not None:
            raise RuntimeError(
                "run_forever() cannot be called from a running event loop: "
                "use 'await app.serve()' there"
            )
        self._check_runnable(num_workers)
        key = self.ordering_key if ordering_key is None else ordering_key
        if key is not None:
            from ._ordering import check_ordering

            check_ordering(key, self.settings)  # before a loop is made
        own_loop = loop is None
        event_loop = new_event_loop() if loop is None else loop
        signals = _SignalCounter(self)
        restore_signals = handle_signals(event_loop, signals.received)
        try:
            event_loop.run_until_complete(signals.serve(num_workers, debug, ordering_key))
        finally:
            restore_signals()
            if own_loop:
                close_loop(event_loop)

    def _check_runnable(self, num_workers: object) -> None:
        if self.consumer is None:
            raise TypeError(
                f"{self!r} has no consumer: pass consumer=... to Application() "
                "or set app.consumer before running it"
            )
        if not is_async_callable(getattr(self.consumer, "read", None)):
            raise TypeError(
                f"the consumer {type(self.consumer).__name__} needs a coroutine method "
                "read() (defined with 'async def read(self)')"
            )
        if self.callback is None:
            raise TypeError(
                f"{self!r} has no callback: pass callback=... to Application() "
                "or set app.callback before running it"
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


class _SignalCounter:
    """SIGINT/SIGTERM for :meth:`Application.run_forever`: drain, then force."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.count = 0

    async def serve(
        self, num_workers: int, debug: bool, ordering_key: Callable[[Any], Hashable] | None
    ) -> None:
        await self.app.serve(num_workers, debug=debug, ordering_key=ordering_key)

    def received(self, signum: int) -> None:
        import signal

        name = signal.Signals(signum).name
        self.count += 1
        logger = self.app.logger
        if self.count == 1:
            logger.info(
                "Received %s: finishing the messages already read (send it again to stop now)",
                name,
            )
            self.app.stop()
        else:
            logger.warning("Received %s again: stopping now", name)
            if self.app._engine is not None:
                self.app._engine.force()

"""The message pipeline behind :meth:`doozer.Application.serve`.

One reader task moves messages from the consumer into a queue bounded by
the number of workers (so at most N messages are read ahead), and N worker
tasks take them from there through the callbacks. Each message ends with
one :class:`~doozer.outcomes.Outcome`; a delivery is settled with it, then
the outcome callbacks see it. Nothing polls: every task waits on the
consumer, on the queue, or on a timer.

With an ordering key the queue is a :class:`~doozer._ordering.KeyedLine`
instead, and the workers keep each key's messages in order
(:mod:`doozer._ordering`); without one, none of that code runs.
"""

from __future__ import annotations

import asyncio
import functools
import reprlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import TYPE_CHECKING, Any

from ._calls import LaterCalls
from ._current import CURRENT
from ._ordering import STOP, KeyedLine, work_in_order
from ._registry import describe
from .exceptions import Abort
from .outcomes import SUCCEEDED, Aborted, Failed, Outcome, Unfinished
from .types import is_delivery_type

if TYPE_CHECKING:
    from .base import Application

_STOP = STOP  # put once per worker when there is nothing more to read

#: How long a forced stop waits for unfinished deliveries to be handed back.
_ABANDON_TIMEOUT = 5.0

Process = Callable[[Any], Awaitable[Outcome]]


def _shorten(message: Any) -> str:
    return reprlib.repr(message)


class Engine:
    """Run one application once: startup, consumption, drain, teardown."""

    def __init__(
        self,
        app: Application,
        num_workers: int,
        ordering_key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        self.app = app
        self.num_workers = num_workers
        self.ordering_key = ordering_key
        self.logger = app.logger
        self.stopping = False  # no more reading; messages already read still finish
        self.forced = False  # in-flight work was cancelled
        self.timed_out = False
        self.error: BaseException | None = None
        #: Messages finished so far, by outcome name.
        # Outcomes other than "succeeded", by name: the hot path counts nothing
        # else, and every message read has an outcome, so the rest succeeded.
        self._unsuccessful: Counter[str] = Counter()
        self._read_count = 0
        self._reading = False
        self._main: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._held: Any = _STOP  # a message read, not queued yet
        self._timer: asyncio.TimerHandle | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(num_workers)
        self._line: KeyedLine | None = None  # instead of the queue, with an ordering key
        self._later = LaterCalls(self._fail)
        self._reports: tuple[Any, ...] = ()  # the outcome callbacks, fixed at start
        self._observers: tuple[Any, ...] = ()  # the message observers, fixed at start
        self._stop_reason = "the consumer ended consumption"
        self._markers_put = 0
        self._workers_done = 0

    @property
    def counts(self) -> Counter[str]:
        """Messages finished, by outcome name (exact once the run is over)."""
        counts = Counter(self._unsuccessful)
        counts["succeeded"] = self._read_count - self._unsuccessful.total()
        return +counts  # without the zeros

    @property
    def messages_read(self) -> int:
        """How many messages were read so far."""
        return self._read_count

    @property
    def consuming(self) -> bool:
        """Whether messages are being read (startup finished, no stop requested, input left)."""
        return self._reader is not None and not self._reader.done() and not self.stopping

    @property
    def read_ahead(self) -> int:
        """Messages read and not handed to a worker yet."""
        if self._line is not None:  # ready, or waiting behind a busy key
            return self._line.count + (self._held is not _STOP)
        # The end-of-input markers queued behind the last message are not messages.
        markers = self._markers_put - self._workers_done
        return max(self._queue.qsize() - markers, 0) + (self._held is not _STOP)

    # -- control ---------------------------------------------------------

    def stop(self, reason: str = "a stop was requested") -> None:
        """Stop reading and let every message already read finish."""
        if self.stopping:
            return
        self.stopping = True
        self._stop_reason = reason
        self._later.hurry()
        if self._reading and self._reader is not None:
            # Only a reader waiting inside consumer.read() is cancelled: one
            # that holds a message finishes handing it to the workers first.
            self._reader.cancel()
        timeout = self.app.settings.get("SHUTDOWN_TIMEOUT")
        if timeout is not None and self._main is not None:
            self._timer = self._main.get_loop().call_later(timeout, self._time_out)

    def force(self) -> None:
        """Cancel whatever is running now (in-flight messages, or a callback)."""
        self.forced = True
        self.stop("a forced stop")
        if self._main is not None:
            self._main.cancel()

    def call_later(self, delay: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """See :meth:`doozer.Application.call_later`."""
        self._later.add(0 if self.stopping else delay, callback, args)

    def _time_out(self) -> None:
        self.logger.error(
            "Still stopping after SHUTDOWN_TIMEOUT (%s s): cancelling what is running",
            self.app.settings["SHUTDOWN_TIMEOUT"],
        )
        self.timed_out = True
        self.force()

    def _fail(self, exc: BaseException, what: str) -> None:
        self.logger.error("Unhandled exception %s; stopping the application", what, exc_info=exc)
        if self.error is None:
            self.error = exc
        self.stop(f"an unhandled {type(exc).__name__}")

    def _forced_cancel(self) -> bool:
        """After a CancelledError in the main task: True if it came from outside."""
        outside = not self.forced
        self.forced = True
        task = asyncio.current_task()
        if not outside and task is not None and hasattr(task, "uncancel"):  # Python >= 3.11
            task.uncancel()
        return outside

    # -- phases ----------------------------------------------------------

    async def run(self) -> None:
        """Run the application to the end; raise what stopped it, if anything did."""
        self._main = asyncio.current_task()
        cancelled = False
        try:
            for startup in tuple(self.app.callbacks.startup):
                await startup(self.app)
            if not self.stopping:
                self._log_start()
                await self._consume()
        except asyncio.CancelledError:
            cancelled = self._forced_cancel()
        except Exception as exc:
            # It is raised from serve() (and run_forever()) with its traceback:
            # the log says what failed in one line, the traceback in debug.
            self.logger.error("Startup failed: %s: %s", type(exc).__name__, exc)
            self.logger.debug("Startup failed", exc_info=exc)
            if self.error is None:
                self.error = exc
            self.stop(f"a failed startup ({type(exc).__name__})")
        try:
            await self._teardown()
        except asyncio.CancelledError:
            cancelled = self._forced_cancel() or cancelled
            self.logger.warning("Teardown was cut short by a forced stop")
        finally:
            # Once a stop is requested, SHUTDOWN_TIMEOUT bounds teardown too.
            if self._timer is not None:
                self._timer.cancel()
        self._log_stop()
        if cancelled:
            raise asyncio.CancelledError
        if self.error is not None:
            raise self.error
        if self.timed_out:
            raise TimeoutError(
                f"shutdown took longer than SHUTDOWN_TIMEOUT "
                f"({self.app.settings['SHUTDOWN_TIMEOUT']} s); what was still running was cancelled"
            )

    def _log_start(self) -> None:
        self.logger.info(
            "Started %r with %d worker(s), consuming from %r",
            self.app.name,
            self.num_workers,
            self.app.consumer,
        )

    def _log_stop(self) -> None:
        counts = ", ".join(
            f"{n} {name.replace('_', ' ')}" for name, n in sorted(self.counts.items())
        )
        self.logger.info(
            "Stopped %r after %d message(s)%s: %s",
            self.app.name,
            self.counts.total(),
            f" ({counts})" if counts else "",
            "a forced stop" if self.forced else self._stop_reason,
        )

    async def _teardown(self) -> None:
        # Every teardown callback runs, so one failing cleanup does not
        # leave the others' resources open.
        for teardown in tuple(self.app.callbacks.teardown):
            try:
                await teardown(self.app)
            except Exception as exc:
                self.logger.error("Teardown callback %r failed", teardown, exc_info=exc)
                if self.error is None:
                    self.error = exc

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        process = self._pipeline()
        if self.ordering_key is None:
            self._reader = loop.create_task(self._read(self._queue.put))
            work: Callable[[], Coroutine[Any, Any, None]]
            if self.app.callbacks.message_wrapper:
                work = functools.partial(self._work, process)
            else:  # the common case, and the fastest: see _inline_worker()
                work = self._inline_worker()
            workers = [loop.create_task(work()) for _ in range(self.num_workers)]
        else:
            line = self._line = KeyedLine(
                self.ordering_key,
                self.num_workers,
                self.logger,
                self._give_back,
                lambda: self.stopping,
            )
            self._reader = loop.create_task(self._read(line.put))
            handle = functools.partial(self._handle, process, self._refusal())
            workers = [
                loop.create_task(work_in_order(line, handle)) for _ in range(self.num_workers)
            ]
        tasks = [self._reader, *workers]
        try:
            await asyncio.gather(*tasks)
            await self._later.wait()
        except asyncio.CancelledError:
            # The workers settle what they held as unfinished: let them, then
            # hand back what was read ahead and never started.
            self._later.hurry()
            await asyncio.wait(tasks, timeout=_ABANDON_TIMEOUT)
            if self._line is not None:
                unstarted = self._line.unstarted()
            else:
                unstarted = [m for m in self._drain_queue() if m is not _STOP]
            if self._held is not _STOP:  # the reader was waiting to queue it
                unstarted.append(self._held)
            if unstarted:
                self.logger.error(
                    "%d message(s) were read but never processed: %s",
                    len(unstarted),
                    ", ".join(map(_shorten, unstarted)),
                )
                await self._abandon(unstarted, "not started before a forced stop")
            await self._later.wait(_ABANDON_TIMEOUT)
            raise

    def _drain_queue(self) -> list[Any]:
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    async def _abandon(self, originals: list[Any], reason: str) -> None:
        """Settle *originals* as unfinished and report them, within a bound."""

        async def finish_all() -> None:
            outcome = Unfinished(reason)
            for original in originals:
                try:
                    await self._finish(original, outcome)
                except Exception as exc:
                    self.logger.error(
                        "Could not hand back message %s", _shorten(original), exc_info=exc
                    )

        try:
            await asyncio.wait_for(finish_all(), _ABANDON_TIMEOUT)
        except asyncio.TimeoutError:
            self.logger.error("Handing back unfinished messages took too long; gave up")

    # -- tasks -----------------------------------------------------------

    async def _read(self, put: Callable[[Any], Awaitable[None]]) -> None:
        read = self.app.consumer.read
        try:
            while not self.stopping:
                self._reading = True
                try:
                    message = await read()
                finally:
                    self._reading = False
                self._read_count += 1
                self._held = message
                await put(message)
                self._held = _STOP
        except asyncio.CancelledError:
            if not self.stopping or self.forced:
                raise
        except Abort as abort:
            self.logger.debug("The consumer ended consumption: %s", abort.reason)
        except Exception as exc:
            self._fail(exc, "while reading from the consumer")
        for _ in range(self.num_workers):
            await put(_STOP)
            self._markers_put += 1

    async def _work(self, process: Process) -> None:
        """A worker loop for applications with message wrappers (see :meth:`_handle`)."""
        queue = self._queue
        get, get_nowait, empty = queue.get, queue.get_nowait, queue.empty
        handle = functools.partial(self._handle, process, self._refusal())
        while True:
            # get_nowait() when a message is waiting is what get() does then
            # (no suspension either way), minus a coroutine object per message.
            original = await get() if empty() else get_nowait()
            if original is _STOP:
                self._workers_done += 1
                return
            await handle(original, None)
            del original  # before waiting, so a finished message can be freed

    def _inline_worker(self) -> Callable[[], Coroutine[Any, Any, None]]:
        """A worker loop that runs each message's stages itself.

        It does what :meth:`_work` does with the :meth:`_pipeline` of an
        application without message wrappers, minus the coroutine call per
        message: the stages below must stay the same as in ``process`` there
        (tests/core and tests/reliability run both, with and without a wrapper).
        """
        app = self.app
        callbacks = app.callbacks
        preprocessors = tuple(callbacks.message_preprocessor)
        postprocessors = tuple(callbacks.result_postprocessor)
        acknowledgements = tuple(callbacks.message_acknowledgement)
        decide = functools.partial(
            self._decide_failure, tuple(callbacks.failure_policy), tuple(callbacks.error)
        )
        callback = app.callback
        assert callback is not None  # serve() checked it
        debug = self.logger.debug
        unsuccessful, reports, settles = self._unsuccessful, self._reports, is_delivery_type
        observers, clock = self._observers, time.perf_counter
        queue = self._queue
        get, get_nowait, empty = queue.get, queue.get_nowait, queue.empty
        current = CURRENT.set if app.track_current_message else None

        async def work() -> None:
            outcome: Outcome
            # Messages usually share one type: ask whether it settles once per type.
            last_type: type | None = None
            settling = False
            while True:
                original = await get() if empty() else get_nowait()
                if original is _STOP:
                    self._workers_done += 1
                    return
                if current:  # until the next message: a set per message, no reset
                    current(original)
                if observers:
                    started = clock()
                try:
                    message = original
                    try:
                        for preprocess in preprocessors:
                            message = await preprocess(app, message)
                        results = await callback(app, message)
                        if results is not None and postprocessors:
                            try:
                                results = iter(results)
                            except TypeError:
                                raise _not_iterable(results) from None
                    except Abort as abort:
                        debug("Message aborted: %s", abort.reason)
                        outcome = Aborted(abort.reason)
                    except Exception as exc:
                        outcome = await decide(original, message, exc)
                    else:
                        if results is not None and postprocessors:
                            for result in results:
                                try:
                                    for postprocess in postprocessors:
                                        result = await postprocess(app, result)
                                except Abort as abort:
                                    debug("Result aborted: %s", abort.reason)
                        outcome = SUCCEEDED
                    try:
                        for acknowledge in acknowledgements:
                            await acknowledge(app, original)
                    except Abort as abort:
                        debug("Acknowledgement aborted: %s", abort.reason)
                except asyncio.CancelledError:
                    self.logger.error("Cancelled while processing message %s", _shorten(original))
                    await self._abandon([original], "cancelled by a forced stop")
                    raise
                except Exception as exc:
                    self._fail(
                        exc, f"while processing message {_shorten(original)} (not acknowledged)"
                    )
                    outcome = Unfinished(f"{type(exc).__name__}: {exc}", exc)
                try:  # what _finish() does
                    if outcome is not SUCCEEDED:
                        unsuccessful[outcome.name] += 1
                    if type(original) is not last_type:
                        last_type = type(original)
                        settling = settles(last_type)
                    if settling:
                        await original.settle(outcome)
                    if observers:
                        duration = clock() - started
                        for observe in observers:
                            observe(app, original, outcome, duration)
                    if reports:
                        for report in reports:
                            await report(app, original, outcome)
                except Exception as exc:
                    self._fail(exc, f"while settling message {_shorten(original)}")
                # Drop references before waiting, so a finished message can be freed.
                original = message = results = outcome = None  # type: ignore[assignment]

        return work

    async def _handle(
        self,
        process: Process,
        refuse: Callable[[Any, Exception], Awaitable[Outcome]],
        original: Any,
        key_error: Exception | None,
    ) -> Outcome:
        """Take one message through *process* to its outcome, and settle it.

        For :meth:`_work` and the ordered workers. *key_error* is what the
        ordering key function raised for the message: then *refuse* takes it
        to its failure instead of *process*.
        """
        started = time.perf_counter() if self._observers else 0.0
        token = CURRENT.set(original) if self.app.track_current_message else None
        try:
            try:
                if key_error is None:
                    outcome = await process(original)
                else:
                    outcome = await refuse(original, key_error)
            except asyncio.CancelledError:
                self.logger.error("Cancelled while processing message %s", _shorten(original))
                await self._abandon([original], "cancelled by a forced stop")
                raise
            except Exception as exc:
                self._fail(exc, f"while processing message {_shorten(original)} (not acknowledged)")
                outcome = Unfinished(f"{type(exc).__name__}: {exc}", exc)
            try:
                await self._finish(original, outcome, started)
            except Exception as exc:
                self._fail(exc, f"while settling message {_shorten(original)}")
            return outcome
        finally:
            if token is not None:
                CURRENT.reset(token)

    async def _give_back(self, originals: list[Any]) -> None:
        await self._abandon(originals, "returned after an unfinished message of its key")

    async def _finish(self, original: Any, outcome: Outcome, started: float = 0.0) -> None:
        """Settle a delivery with its outcome, then tell the observers and outcome callbacks.

        *started* is the :func:`time.perf_counter` when its processing started
        (0 for a message never started): observers get the duration.
        """
        if outcome is not SUCCEEDED:
            self._unsuccessful[outcome.name] += 1
        if is_delivery_type(type(original)):
            await original.settle(outcome)
        if self._observers:
            duration = time.perf_counter() - started if started else 0.0
            for observe in self._observers:
                observe(self.app, original, outcome, duration)
        for report in self._reports:
            await report(self.app, original, outcome)

    # -- the pipeline of one message --------------------------------------

    def _pipeline(self) -> Process:
        """The coroutine function that takes one message to its outcome.

        The callbacks are fixed when consumption starts; the stages are
        inlined and looked up once, so a message costs little more than
        awaiting its callbacks.
        """
        app = self.app
        callbacks = app.callbacks
        preprocessors = tuple(callbacks.message_preprocessor)
        postprocessors = tuple(callbacks.result_postprocessor)
        acknowledgements = tuple(callbacks.message_acknowledgement)
        decide = functools.partial(
            self._decide_failure, tuple(callbacks.failure_policy), tuple(callbacks.error)
        )
        self._reports = tuple(callbacks.message_outcome)
        self._observers = tuple(callbacks.message_observer)
        callback = app.callback
        assert callback is not None  # serve() checked it
        debug = self.logger.debug

        async def process(original: Any) -> Outcome:
            outcome: Outcome
            message = original
            try:
                for preprocess in preprocessors:
                    message = await preprocess(app, message)
                results = await callback(app, message)
                if results is not None and postprocessors:
                    try:  # inline: no extra function call per message
                        results = iter(results)
                    except TypeError:
                        raise _not_iterable(results) from None
            except Abort as abort:
                debug("Message aborted: %s", abort.reason)
                outcome = Aborted(abort.reason)
            except Exception as exc:
                outcome = await decide(original, message, exc)
            else:
                if results is not None and postprocessors:
                    for result in results:
                        try:
                            for postprocess in postprocessors:
                                result = await postprocess(app, result)
                        except Abort as abort:
                            debug("Result aborted: %s", abort.reason)
                outcome = SUCCEEDED
            try:
                for acknowledge in acknowledgements:
                    await acknowledge(app, original)
            except Abort as abort:
                debug("Acknowledgement aborted: %s", abort.reason)
            return outcome

        pipeline: Process = process
        for wrapper in reversed(callbacks.message_wrapper):
            pipeline = _wrap(app, wrapper, pipeline)
        return pipeline

    def _refusal(self) -> Callable[[Any, Exception], Awaitable[Outcome]]:
        """Takes a message whose ordering key could not be computed to its failure.

        The same way as an exception from a preprocessor: inside the message
        wrappers, through the failure policies (or the error callbacks), then
        the acknowledgement callbacks.
        """
        app = self.app
        callbacks = app.callbacks
        acknowledgements = tuple(callbacks.message_acknowledgement)
        wrappers = tuple(reversed(callbacks.message_wrapper))
        decide = functools.partial(
            self._decide_failure, tuple(callbacks.failure_policy), tuple(callbacks.error)
        )

        async def refuse(original: Any, error: Exception) -> Outcome:
            async def fail(original: Any) -> Outcome:
                outcome = await decide(original, original, error)
                try:
                    for acknowledge in acknowledgements:
                        await acknowledge(app, original)
                except Abort as abort:
                    self.logger.debug("Acknowledgement aborted: %s", abort.reason)
                return outcome

            pipeline: Process = fail
            for wrapper in wrappers:
                pipeline = _wrap(app, wrapper, pipeline)
            return await pipeline(original)

        return refuse

    async def _decide_failure(
        self,
        policies: tuple[Any, ...],
        error_callbacks: tuple[Any, ...],
        original: Any,
        message: Any,
        exc: Exception,
    ) -> Outcome:
        app = self.app
        for policy in policies:
            decided = await policy(app, original, message, exc)
            if decided is not None:
                if not isinstance(decided, Outcome):
                    raise TypeError(
                        f"failure policy {describe(policy)} returned {decided!r}: "
                        "it must return an Outcome or None"
                    )
                return decided
        if not error_callbacks:
            self.logger.error("Error processing message %s", _shorten(message), exc_info=exc)
        for on_error in error_callbacks:
            try:
                await on_error(app, message, exc)
            except Abort as abort:
                self.logger.debug("Error handling aborted: %s", abort.reason)
                break
        return Failed(exc)


def _wrap(app: Application, wrapper: Any, inner: Process) -> Process:
    async def wrapped(original: Any) -> Outcome:
        outcome = await wrapper(app, original, functools.partial(inner, original))
        if not isinstance(outcome, Outcome):
            raise TypeError(
                f"message wrapper {describe(wrapper)} returned {outcome!r}: "
                "it must return the Outcome of process(), or another Outcome"
            )
        return outcome

    return wrapped


def _not_iterable(results: Any) -> TypeError:
    return TypeError(
        f"the callback returned {type(results).__name__!r}; "
        "it must return an iterable of results, or None"
    )

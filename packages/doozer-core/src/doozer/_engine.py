"""The message pipeline behind :meth:`doozer.Application.run_forever`.

One reader task moves messages from the consumer into a queue bounded by
the number of workers (so at most N messages are read ahead), and N worker
tasks take them from there through the callbacks.  Nothing polls: every
task waits on the consumer or on the queue.
"""

from __future__ import annotations

import asyncio
import reprlib
import signal
from typing import TYPE_CHECKING, Any

from .exceptions import Abort

if TYPE_CHECKING:
    from .base import Application

_STOP = object()  # put once per worker when there is nothing more to read


def _shorten(message: Any) -> str:
    return reprlib.repr(message)


class Engine:
    """Run one application: startup, consumption, drain, teardown."""

    def __init__(self, app: Application, num_workers: int) -> None:
        self.app = app
        self.num_workers = num_workers
        self.logger = app.logger
        self.stopping = False  # no more reading; messages already read still finish
        self.forced = False  # in-flight work was cancelled
        self.timed_out = False
        self.error: BaseException | None = None
        self._signals = 0
        self._reading = False
        self._main: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._held: Any = _STOP  # a message read, not queued yet
        self._timer: asyncio.TimerHandle | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(num_workers)

    # -- control ---------------------------------------------------------

    def stop(self) -> None:
        """Stop reading and let every message already read finish."""
        if self.stopping:
            return
        self.stopping = True
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
        if self._main is not None:
            self._main.cancel()

    def on_signal(self, signum: int) -> None:
        """First SIGINT/SIGTERM drains, the next one stops at once."""
        name = signal.Signals(signum).name
        self._signals += 1
        if self._signals == 1:
            self.logger.info(
                "Received %s: finishing the messages already read (send it again to stop now)",
                name,
            )
            self.stop()
        else:
            self.logger.warning("Received %s again: stopping now", name)
            self.force()

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
        self.stop()

    def _swallow_forced_cancel(self) -> None:
        if not self.forced:
            raise asyncio.CancelledError
        task = asyncio.current_task()
        if task is not None and hasattr(task, "uncancel"):  # Python >= 3.11
            task.uncancel()

    # -- phases ----------------------------------------------------------

    async def serve(self) -> None:
        """Run the application to the end; raise what stopped it, if anything did."""
        self._main = asyncio.current_task()
        try:
            for startup in self.app.callbacks.startup:
                await startup(self.app)
            if not self.stopping:
                await self._consume()
        except asyncio.CancelledError:
            self._swallow_forced_cancel()
        except Exception as exc:
            self._fail(exc, "in a startup callback")
        try:
            await self._teardown()
        except asyncio.CancelledError:
            self._swallow_forced_cancel()
            self.logger.warning("Teardown was cut short by a forced stop")
        finally:
            # Once a stop is requested, SHUTDOWN_TIMEOUT bounds teardown too.
            if self._timer is not None:
                self._timer.cancel()
        if self.error is not None:
            raise self.error
        if self.timed_out:
            raise TimeoutError(
                f"shutdown took longer than SHUTDOWN_TIMEOUT "
                f"({self.app.settings['SHUTDOWN_TIMEOUT']} s); what was still running was cancelled"
            )

    async def _teardown(self) -> None:
        # Every teardown callback runs, so one failing cleanup does not
        # leave the others' resources open.
        for teardown in self.app.callbacks.teardown:
            try:
                await teardown(self.app)
            except Exception as exc:
                self.logger.error("Teardown callback %r failed", teardown, exc_info=exc)
                if self.error is None:
                    self.error = exc

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read())
        tasks = [self._reader, *(loop.create_task(self._work()) for _ in range(self.num_workers))]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            unprocessed = [m for m in self._drain_queue() if m is not _STOP]
            if self._held is not _STOP:  # the reader was waiting to queue it
                unprocessed.append(self._held)
            if unprocessed:
                self.logger.error(
                    "%d message(s) were read but never processed: %s",
                    len(unprocessed),
                    ", ".join(map(_shorten, unprocessed)),
                )
            raise

    def _drain_queue(self) -> list[Any]:
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    # -- tasks -----------------------------------------------------------

    async def _read(self) -> None:
        read = self.app.consumer.read
        put = self._queue.put
        try:
            while not self.stopping:
                self._reading = True
                try:
                    message = await read()
                finally:
                    self._reading = False
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

    async def _work(self) -> None:
        # The hot path: attribute lookups are hoisted and the stages are
        # inlined, so a message costs little more than awaiting its callbacks.
        app = self.app
        callbacks = app.callbacks
        preprocessors = callbacks.message_preprocessor
        postprocessors = callbacks.result_postprocessor
        acknowledgements = callbacks.message_acknowledgement
        callback = app.callback
        assert callback is not None  # run_forever() checked it
        queue = self._queue
        get, get_nowait, empty = queue.get, queue.get_nowait, queue.empty
        debug = self.logger.debug
        while True:
            # get_nowait() when a message is waiting is what get() does then
            # (no suspension either way), minus a coroutine object per message.
            original = await get() if empty() else get_nowait()
            if original is _STOP:
                return
            try:
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
                except Exception as exc:
                    await self._handle_error(message, exc)
                else:
                    if results is not None and postprocessors:
                        for result in results:
                            try:
                                for postprocess in postprocessors:
                                    result = await postprocess(app, result)
                            except Abort as abort:
                                debug("Result aborted: %s", abort.reason)
                try:
                    for acknowledge in acknowledgements:
                        await acknowledge(app, original)
                except Abort as abort:
                    debug("Acknowledgement aborted: %s", abort.reason)
            except asyncio.CancelledError:
                self.logger.error("Cancelled while processing message %s", _shorten(original))
                raise
            except Exception as exc:
                self._fail(exc, f"while processing message {_shorten(original)} (not acknowledged)")
            # Drop references before waiting, so a finished message can be freed.
            original = message = results = None

    async def _handle_error(self, message: Any, exc: Exception) -> None:
        app = self.app
        error_callbacks = app.callbacks.error
        if not error_callbacks:
            self.logger.error("Error processing message %s", _shorten(message), exc_info=exc)
            return
        for on_error in error_callbacks:
            try:
                await on_error(app, message, exc)
            except Abort as abort:
                self.logger.debug("Error handling aborted: %s", abort.reason)
                return


def _not_iterable(results: Any) -> TypeError:
    return TypeError(
        f"the callback returned {type(results).__name__!r}; "
        "it must return an iterable of results, or None"
    )

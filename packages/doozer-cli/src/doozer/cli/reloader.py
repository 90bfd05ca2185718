"""The reloader: a supervisor that restarts the application when its code changes.

The supervisor never imports the application. It runs it in a child process
(``python -m doozer run ...``, marked by an environment variable so the
child does not supervise in turn), watches the application's root directory
and, once a burst of changes to ``*.py`` or ``*.ini`` files has settled,
stops the child with SIGTERM (it finishes its in-flight messages) and starts
a fresh one. A child that exits on its own, for instance because the edit
broke it, is reported and replaced on the next change.

The child runs in its own session so that Ctrl-C in a terminal reaches only
the supervisor, which then sends the child a single SIGTERM. The child also
holds the read end of the supervisor's "lifeline" pipe
(:mod:`doozer.cli.lifeline`): if the supervisor dies without stopping it,
even by SIGKILL, the child stops itself, so it is never left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence

from watchdog.events import (
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from .lifeline import CHILD_ENV

__all__ = ["Supervisor"]

#: Files whose changes restart the application (unless hidden, or in a
#: hidden directory).
SUFFIXES = (".py", ".ini")
# watchdog also reports opened / closed / attrib events, which reading a file
# (the child importing the application) causes: only real changes count.
EVENTS = frozenset({EVENT_TYPE_CREATED, EVENT_TYPE_MODIFIED, EVENT_TYPE_MOVED, EVENT_TYPE_DELETED})
#: Seconds without further changes before restarting: an editor's save, or a
#: checkout, produces a burst of events that should cause one restart.
DEBOUNCE = 0.3

logger = logging.getLogger("doozer.cli.reloader")


class _Changes(FileSystemEventHandler):
    """Forward relevant file-system events (from watchdog's thread)."""

    def __init__(self, root: str, notify: Callable[[str], None]) -> None:
        self.root = root
        self.notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in EVENTS or event.is_directory:
            return
        for raw in (event.src_path, event.dest_path):
            path = os.fsdecode(raw)
            if path.endswith(SUFFIXES) and not self._hidden(path):
                self.notify(path)
                return

    def _hidden(self, path: str) -> bool:
        # Hidden files and directories are not the application's code: a
        # virtualenv or .tox being installed into, or an editor's lock file
        # such as Emacs's .#service.py, must not restart it.
        relative = os.path.relpath(path, self.root)
        return any(part.startswith(".") and part != ".." for part in relative.split(os.sep))


class Supervisor:
    """Run *command* in a child process, restarting it when *root* changes.

    :param command: the child's command line (argv).
    :param root: the directory watched, recursively.
    :param debounce: seconds of quiet that end a burst of changes.
    """

    def __init__(self, command: Sequence[str], root: str, debounce: float = DEBOUNCE) -> None:
        self.command = list(command)
        self.root = root
        self.debounce = debounce
        self._signals = 0
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()
        self._changed_paths: set[str] = set()
        self._child: asyncio.subprocess.Process | None = None

    def run(self) -> int:
        """Supervise until SIGINT or SIGTERM; return the exit status.

        The status is that of the last child when it was still running
        (0 when it stopped normally), else 0.
        """
        return asyncio.run(self._supervise())

    # -- events ----------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        child = self._child
        if self._signals == 1:
            logger.info("Received %s: stopping the application", signal.Signals(signum).name)
            self._stop.set()
        elif child is not None and child.returncode is None:
            # Like the application itself: a second signal stops it now, a
            # third one kills it (a child stuck before it handles signals).
            forced = signal.SIGTERM if self._signals == 2 else signal.SIGKILL
            name = signal.Signals(signum).name
            logger.warning("Received %s again: sending %s to the application", name, forced.name)
            with contextlib.suppress(ProcessLookupError):  # it just exited
                child.send_signal(forced)

    def _on_change(self, path: str) -> None:
        self._changed_paths.add(os.path.relpath(path, self.root))
        self._changed.set()

    # -- the loop --------------------------------------------------------

    async def _supervise(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)

        def notify(path: str) -> None:  # called in watchdog's thread
            loop.call_soon_threadsafe(self._on_change, path)

        observer = Observer()
        observer.schedule(_Changes(self.root, notify), self.root, recursive=True)
        observer.start()
        lifeline_read, lifeline_write = os.pipe()  # the child's end: lifeline_read
        status = 0
        try:
            logger.info("Watching %s for changes to *.py and *.ini files", self.root)
            while not self._stop.is_set():
                self._changed.clear()
                self._changed_paths.clear()
                self._child = await self._spawn(lifeline_read)
                exited = asyncio.ensure_future(self._child.wait())
                await _first(exited, self._changed.wait(), self._stop.wait())
                if exited.done() and not self._stop.is_set():
                    logger.warning(
                        "The application exited with status %s; waiting for a change to restart it",
                        exited.result(),
                    )
                    await _first(self._changed.wait(), self._stop.wait())
                if self._stop.is_set():
                    break
                await self._settle()
                if self._stop.is_set():
                    break
                logger.warning(
                    "Detected changes in %s: restarting",
                    ", ".join(sorted(self._changed_paths)) or self.root,
                )
                await self._terminate()
        finally:
            if self._child is not None and self._child.returncode is None:
                status = _exit_status(await self._terminate())
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            observer.stop()
            observer.join()
            os.close(lifeline_write)
            os.close(lifeline_read)
        return status

    async def _spawn(self, lifeline: int) -> asyncio.subprocess.Process:
        env = {**os.environ, CHILD_ENV: str(lifeline)}
        return await asyncio.create_subprocess_exec(
            *self.command, env=env, pass_fds=(lifeline,), start_new_session=True
        )

    async def _settle(self) -> None:
        """Wait until no change has come for ``debounce`` seconds."""
        while not self._stop.is_set():
            self._changed.clear()
            try:
                await asyncio.wait_for(
                    _first(self._changed.wait(), self._stop.wait()), self.debounce
                )
            except asyncio.TimeoutError:
                return

    async def _terminate(self) -> int:
        child = self._child
        assert child is not None
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it exited in the meantime
                child.send_signal(signal.SIGTERM)
        return await child.wait()


async def _first(*waits: Awaitable[object]) -> None:
    """Wait until the first of *waits* is done.

    Coroutines are wrapped in tasks that are cancelled afterwards; futures
    passed in belong to the caller and are left running.
    """
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait, task in zip(waits, tasks, strict=True):
            if asyncio.iscoroutine(wait):
                task.cancel()


def _exit_status(returncode: int) -> int:
    # A child killed by a signal reports -N; a shell would say 128 + N.
    return returncode if returncode >= 0 else 128 - returncode

"""The supervisor behind ``--processes``, ``--max-messages-per-child`` and the reloader.

It never imports the application. It starts each child with
:func:`~doozer.cli._handoff.child_command` and hands it its run
configuration as data (:class:`~doozer.cli._handoff.Handoff`), keeps one
child running per slot, and owns what every supervisor needs once:

- the lifeline (:mod:`doozer.cli.lifeline`): children stop themselves when
  the supervisor is gone, even after SIGKILL;
- signals: children run in sessions of their own, so Ctrl-C in a terminal
  reaches only the supervisor, which sends each child one SIGTERM (it drains);
  a second signal sends a second SIGTERM (children stop at once), a third
  sends SIGKILL;
- restarts: a child that fails (crash, OOM kill, SIGKILL) is restarted with
  a backoff that doubles per consecutive failure of its slot; a crash loop
  (:data:`CRASH_LIMIT` failures within :data:`CRASH_WINDOW` seconds) stops
  every child and the supervisor exits with status 1. Under the reloader a
  failed child waits for the next change instead (the edit was broken);
- recycling: a child that stops after its message limit (status
  :data:`~doozer.cli._handoff.RECYCLED`) is replaced at once. The first
  children get staggered limits, so they are not all replaced together;
- reloading: a change source (the reloader's file watcher) makes every child
  stop gracefully and be replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from ._handoff import RECYCLED, STOP_SIGNALS, Handoff, child_command

__all__ = ["CRASH_LIMIT", "CRASH_WINDOW", "ChangeSource", "Supervisor"]

#: Failures of children within :data:`CRASH_WINDOW` seconds that make a crash loop.
CRASH_LIMIT = 5
CRASH_WINDOW = 60.0
#: The first restart delay of a slot; it doubles with each consecutive failure.
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 10.0
#: A child that ran this long resets its slot's backoff.
STABLE_AFTER = 10.0

logger = logging.getLogger("doozer.cli.supervisor")


class ChangeSource(Protocol):
    """What asks the supervisor to replace its children (the reloader's watcher)."""

    def start(self, loop: asyncio.AbstractEventLoop, notify: Callable[[list[str]], None]) -> None:
        """Start watching; call ``notify(changed paths)`` on *loop* for each settled change."""

    def stop(self) -> None:
        """Stop watching."""


class Supervisor:
    """Keep *processes* children running ``doozer run`` with *args*.

    :param args: the parsed ``run`` options, handed to every child.
    :param processes: how many children run at once.
    :param message_limit: each child stops after this many messages and is
        replaced; None: no limit.
    :param changes: restart every child when it reports changes (the
        reloader); failed children then wait for a change instead of being
        restarted.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        processes: int = 1,
        message_limit: int | None = None,
        changes: ChangeSource | None = None,
    ) -> None:
        self.args = args
        self.processes = processes
        self.message_limit = message_limit
        self.changes = changes
        self._children: dict[int, asyncio.subprocess.Process] = {}
        self._signals = 0
        self._failures: deque[float] = deque()
        self._crash_loop: str | None = None
        self._last_limit: dict[int, int] = {}  # per slot, for the log

    def run(self) -> int:
        """Supervise until every child stopped; return the exit status.

        0 when every child stopped cleanly (after SIGINT / SIGTERM, or on its
        own); 1 after a crash loop (one line on stderr says why); otherwise
        the status of a child that did not stop cleanly (128 + N for signal N).
        """
        return asyncio.run(self._main())

    # -- the whole -------------------------------------------------------

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._spawning = asyncio.Lock()
        self._next_change: asyncio.Future[None] = loop.create_future()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
        lifeline_read, lifeline_write = os.pipe()  # the children's end: lifeline_read
        self._handoff = Handoff.from_args(self.args, lifeline_read)
        if self.changes is not None:
            self.changes.start(loop, self._on_change)
        slots = [asyncio.ensure_future(self._keep(slot)) for slot in range(self.processes)]
        try:
            statuses = await asyncio.gather(*slots)
        except BaseException:
            for child in self._children.values():  # a bug here must not leave children behind
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
            raise
        finally:
            if self.changes is not None:
                self.changes.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            os.close(lifeline_write)
            os.close(lifeline_read)
        if self._crash_loop is not None:
            print(f"doozer: error: {self._crash_loop}", file=sys.stderr)
            return 1
        return next((status for status in statuses if status), 0)

    def _stop(self) -> None:
        if not self._stopping.is_set():
            self._stopping.set()
            self._signal_children(signal.SIGTERM)

    def _signal_children(self, signum: int) -> None:
        for child in self._children.values():
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # it just exited
                    child.send_signal(signum)

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            logger.info("Received %s: stopping the application gracefully", name)
            self._stop()
        else:
            # Like the application itself: a second signal stops it now, a
            # third one kills it (a child stuck before it handles signals).
            forced = signal.SIGTERM if self._signals == 2 else signal.SIGKILL
            logger.warning("Received %s again: sending %s to the application", name, forced.name)
            self._signal_children(forced)

    def _on_change(self, paths: list[str]) -> None:
        if self._stopping.is_set():
            return
        logger.info("Detected changes in %s: restarting", ", ".join(paths))
        change, self._next_change = self._next_change, asyncio.get_running_loop().create_future()
        change.set_result(None)

    # -- one slot ----------------------------------------------------------

    async def _keep(self, slot: int) -> int:
        """Keep a child running in *slot* until the supervisor stops; its last status."""
        limit = self._first_limit(slot)
        failures = 0  # consecutive, for the backoff
        while not self._stopping.is_set():
            change = self._next_change
            child = await self._spawn(slot, limit)
            limit = self.message_limit
            started = time.monotonic()
            exited = asyncio.ensure_future(child.wait())
            await _first(exited, change, self._stopping.wait())
            if not exited.done():
                if not self._stopping.is_set():  # a change: replace it
                    with contextlib.suppress(ProcessLookupError):
                        child.send_signal(signal.SIGTERM)
                    self._log_exit(slot, child, await exited, logging.INFO)
                    continue
                status = await exited  # _stop() sent it SIGTERM
                self._log_exit(slot, child, status, logging.INFO if not status else logging.WARNING)
                return _exit_status(status)
            status = exited.result()
            if self._stopping.is_set():
                self._log_exit(slot, child, status, logging.INFO if not status else logging.WARNING)
                return _exit_status(status)
            if status == RECYCLED:
                logger.info(
                    "Child %d (pid %d) finished its %d messages: replacing it",
                    slot + 1,
                    child.pid,
                    self._last_limit[slot],
                )
                failures = 0
                continue
            if self.changes is not None:
                self._log_exit(slot, child, status, logging.WARNING, "; waiting for a change")
                await _first(self._next_change, self._stopping.wait())
                continue
            if status == 0:
                self._log_exit(slot, child, status, logging.INFO, ": not restarted")
                return 0
            self._log_exit(slot, child, status, logging.WARNING)
            if self._crashed(slot, child, status):
                return 0  # reported as the crash loop
            failures = 1 if time.monotonic() - started >= STABLE_AFTER else failures + 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))
            logger.warning("Restarting child %d in %.2g s", slot + 1, delay)
            await _first(asyncio.sleep(delay), self._stopping.wait())
        return 0

    def _first_limit(self, slot: int) -> int | None:
        # Children share the work alike, so with equal limits they would all
        # reach them at once: the first life of slot i is shorter by i / N.
        if self.message_limit is None:
            return None
        return max(1, self.message_limit - slot * self.message_limit // self.processes)

    async def _spawn(self, slot: int, message_limit: int | None) -> asyncio.subprocess.Process:
        handoff = self._handoff.for_child(slot, message_limit)
        self._last_limit[slot] = message_limit or 0
        # The child inherits the signal mask: with SIGINT and SIGTERM blocked
        # it keeps a stop that comes while it starts for when it can handle it.
        # Here, a signal waits the few milliseconds until they are unblocked.
        # One spawn at a time, or their masks would be saved and restored
        # out of order.
        async with self._spawning:
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                child = await asyncio.create_subprocess_exec(
                    *child_command(),
                    env=handoff.environment(os.environ),
                    stdin=asyncio.subprocess.DEVNULL,
                    pass_fds=(handoff.lifeline,),
                    start_new_session=True,
                )
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self._children[slot] = child
        logger.info("Started child %d of %d (pid %d)", slot + 1, self.processes, child.pid)
        if self._stopping.is_set():  # a signal came while it was being started
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        return child

    def _log_exit(
        self,
        slot: int,
        child: asyncio.subprocess.Process,
        status: int,
        level: int,
        suffix: str = "",
    ) -> None:
        how = (
            f"was killed by {_signal_name(-status)}"
            if status < 0
            else f"exited with status {status}"
        )
        logger.log(level, "Child %d (pid %d) %s%s", slot + 1, child.pid, how, suffix)

    def _crashed(self, slot: int, child: asyncio.subprocess.Process, status: int) -> bool:
        """Count a failure; after a crash loop, stop everything and return True."""
        now = time.monotonic()
        self._failures.append(now)
        while self._failures[0] < now - CRASH_WINDOW:
            self._failures.popleft()
        if len(self._failures) < CRASH_LIMIT:
            return False
        how = f"killed by {_signal_name(-status)}" if status < 0 else f"status {status}"
        self._crash_loop = (
            f"the application failed {len(self._failures)} times within {CRASH_WINDOW:g} s "
            f"(last: child {slot + 1}, pid {child.pid}, {how}); stopped every process; "
            "its own output above says why"
        )
        logger.warning("Crash loop: stopping every child")
        self._stop()
        return True


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


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _exit_status(returncode: int) -> int:
    # A child killed by a signal reports -N; a shell would say 128 + N.
    return returncode if returncode >= 0 else 128 - returncode

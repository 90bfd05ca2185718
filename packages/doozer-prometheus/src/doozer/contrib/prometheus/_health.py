"""The answers of ``/livez`` and ``/readyz``, computed on the HTTP server's thread."""

from __future__ import annotations

import asyncio
import threading
from time import perf_counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from doozer import Application

    from ._stats import Stats

#: (healthy, the reason in a few words)
Verdict = tuple[bool, str]


class Health:
    """Liveness and readiness of one application.

    :param liveness_timeout: seconds the event loop has to run a no-op.
    :param stall_timeout: seconds without progress, with messages waiting,
        after which the application is stalled (None: never).
    """

    def __init__(
        self,
        app: Application,
        stats: Stats,
        liveness_timeout: float,
        stall_timeout: float | None,
    ) -> None:
        self.app = app
        self.stats = stats
        self.liveness_timeout = liveness_timeout
        self.stall_timeout = stall_timeout
        #: The application's event loop while it runs (set by the extension).
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Set once the teardown callbacks started.
        self.tearing_down = False
        # Progress is sampled by the probes, not timed per message: the
        # (started, finished) counts last seen, and when they were first seen.
        self._progress = (0, 0)
        self._progress_at = perf_counter()
        self._progress_lock = threading.Lock()

    def run_started(self) -> None:
        """Start measuring progress afresh (a startup callback calls it)."""
        with self._progress_lock:
            self._progress = (self.stats.started(), self.stats.finished())
            self._progress_at = perf_counter()

    def idle_for(self) -> float:
        """Seconds since a probe first saw the current (started, finished) counts.

        A worker taking a message or finishing one changes them, so this is
        never less than the time since the last progress, and more by at
        most the time between two probes: a stall is never reported early,
        and late by at most one probe period.
        """
        stats = self.stats
        progress = (stats.started(), stats.finished())
        now = perf_counter()
        with self._progress_lock:
            if progress != self._progress:
                self._progress, self._progress_at = progress, now
            return now - self._progress_at

    def liveness(self) -> Verdict:
        """Alive: the event loop answers, and messages that wait get processed."""
        loop = self.loop
        if loop is None:
            return False, "the application is not running"
        answered = threading.Event()
        try:
            loop.call_soon_threadsafe(answered.set)
        except RuntimeError:  # closed
            return False, "the application's event loop is closed"
        if not answered.wait(self.liveness_timeout):
            return False, (
                f"the event loop did not answer within {self.liveness_timeout} s "
                "(PROMETHEUS_LIVENESS_TIMEOUT): something blocks it"
            )
        stall_timeout = self.stall_timeout
        if stall_timeout is not None:
            waiting = self.app.read_ahead
            idle = self.idle_for()
            if waiting and idle > stall_timeout:
                return False, (
                    f"stalled: {waiting} message(s) wait for a worker and no message started "
                    f"or finished for {idle:.1f} s (PROMETHEUS_STALL_TIMEOUT is {stall_timeout} s)"
                )
        return True, "alive"

    def readiness(self) -> Verdict:
        """Ready: started, consuming through a ready transport, not stopping."""
        app = self.app
        if not app.running:
            return False, "not running"
        if app.stopping or self.tearing_down:
            return False, "stopping: finishing the messages already read"
        if not app.consuming:
            return False, "starting"
        consumer = app.consumer
        if not getattr(consumer, "ready", True):
            state = getattr(consumer, "state", None) or "not connected"
            return False, f"the transport is not ready: {state}"
        return True, "ready"

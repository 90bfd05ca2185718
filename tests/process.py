"""Drive real subprocesses: read their output as it comes, with deadlines."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO


class Process:
    """A child process whose stdout and stderr are collected line by line."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=(self.popen.stdout, "out"), daemon=True),
            threading.Thread(target=self._pump, args=(self.popen.stderr, "err"), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream: IO[str], name: str) -> None:
        for line in stream:
            self._lines.put((name, line.rstrip("\n")))

    def _collect(self, timeout: float) -> tuple[str, str] | None:
        try:
            name, line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return None
        (self.stdout if name == "out" else self.stderr).append(line)
        return name, line

    def wait_for(self, text: str, timeout: float = 10.0, count: int = 1) -> None:
        """Wait until *count* lines (stdout or stderr) contain *text*."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.stdout + self.stderr) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.popen.poll() is not None and self._lines.empty()):
                raise AssertionError(
                    f"{text!r} did not appear {count} time(s); stdout={self.stdout[-20:]} "
                    f"stderr={self.stderr[-20:]}"
                )
            self._collect(min(remaining, 0.1))

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def finish(self, timeout: float = 15.0) -> int:
        """Wait for the process to exit and collect the rest of its output."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise
        self._close(timeout)
        return code

    def _close(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)
        while self._collect(0) is not None:
            pass
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        """Kill the process if it still runs, and release its pipes."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self._close(5)

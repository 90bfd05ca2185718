"""Real ``python -m doozer`` processes whose output tests wait for.

Output is read by background threads, and tests wait for the lines they
expect with a deadline, never with a fixed sleep.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from doozer.cli.lifeline import CHILD_ENV

#: Generous: a loaded CI machine can be slow to start Python.
TIMEOUT = 20.0


class Doozer:
    """A running ``python -m doozer ...`` whose output can be waited for."""

    def __init__(self, args: list[str], cwd: Path, new_session: bool = False) -> None:
        env = {key: value for key, value in os.environ.items() if key != CHILD_ENV}
        env["PYTHONUNBUFFERED"] = "1"
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "doozer", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Its own process group, to be signalled as a terminal would.
            start_new_session=new_session,
        )
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdout(self) -> str:
        return "\n".join(self.lines["stdout"])

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines["stderr"])

    def _finished(self) -> bool:
        return not any(reader.is_alive() for reader in self._readers)

    def wait_for(
        self, pattern: str, stream: str = "stdout", timeout: float = TIMEOUT, count: int = 1
    ) -> re.Match[str]:
        """Wait until the *count*-th line of *stream* matching *pattern* appears."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matches = [m for m in map(regex.search, self.lines[stream]) if m]
                if len(matches) >= count:
                    return matches[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._finished():
                    break
                self._changed.wait(remaining)
        raise AssertionError(
            f"no line matching {pattern!r} (#{count}) on {stream} of doozer {self.args} "
            f"(exit status {self.proc.poll()}):\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for the process to exit and its output to be read; return its status."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"doozer {self.args} still running after {timeout} s:\n"
                f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
            ) from None
        for reader in self._readers:
            reader.join(timeout)
        return status

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for reader in self._readers:
            reader.join(TIMEOUT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def alive(pid: int) -> bool:
    """Whether process *pid* exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The state follows the parenthesized command name (which may hold spaces).
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)

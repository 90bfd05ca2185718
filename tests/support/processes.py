"""Drive real subprocesses: read their output as it comes, wait with deadlines.

Output is read by background threads, and tests wait for the lines they
expect with a deadline, never with a fixed sleep.
"""

from __future__ import annotations

import os
import re
import signal as signals
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

#: Generous: a loaded CI machine can be slow to start Python.
TIMEOUT = 20.0

Stream = Literal["stdout", "stderr"]

# Set by a doozer supervisor in its children: a test's process must not
# inherit them from a test runner that was itself started by one.
_SUPERVISOR_MARKS = ("DOOZER_SUPERVISOR",)


class Process:
    """``python *args`` in *cwd*, its stdout and stderr collected line by line.

    :param args: the arguments after the interpreter (``["-m", "doozer", ...]``).
    :param env: variables added to (a copy of) this process's environment.
    :param new_session: run it in a session (and process group) of its own,
        to be signalled as a terminal would.
    """

    def __init__(
        self,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        *,
        new_session: bool = False,
    ) -> None:
        full_env = {k: v for k, v in os.environ.items() if k not in _SUPERVISOR_MARKS}
        full_env.update(PYTHONUNBUFFERED="1", **(env or {}))
        self.args = list(args)
        self.popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=new_session,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(lines, stream), daemon=True)
            for lines, stream in (
                (self.stdout, self.popen.stdout),
                (self.stderr, self.popen.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, lines: list[str], stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def output(self, stream: Stream) -> str:
        """The lines of *stream* read so far, joined."""
        with self._changed:
            return "\n".join(self.stdout if stream == "stdout" else self.stderr)

    def _finished(self) -> bool:
        return not any(reader.is_alive() for reader in self._readers)

    def _report(self) -> str:
        return (
            f"{self.args} (exit status {self.popen.poll()}):\n"
            f"--- stdout\n{self.output('stdout')}\n--- stderr\n{self.output('stderr')}"
        )

    def wait_for_match(
        self,
        pattern: str,
        stream: Stream | None = None,
        timeout: float = TIMEOUT,
        count: int = 1,
    ) -> re.Match[str]:
        """Wait for the *count*-th line matching the regular expression *pattern*.

        :param stream: "stdout" or "stderr"; None: lines of either.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                lines = {"stdout": self.stdout, "stderr": self.stderr}.get(
                    stream or "", self.stdout + self.stderr
                )
                matches = [match for match in map(regex.search, lines) if match]
                if len(matches) >= count:
                    return matches[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._finished():
                    break
                self._changed.wait(remaining)
        raise AssertionError(f"no line matching {pattern!r} (#{count}) from {self._report()}")

    def wait_for(
        self, text: str, timeout: float = TIMEOUT, count: int = 1, stream: Stream | None = None
    ) -> str:
        """Wait until *count* lines (of *stream*, or of either) contain *text*; return the last."""
        return self.wait_for_match(re.escape(text), stream, timeout, count).string

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def finish(self, timeout: float = TIMEOUT) -> int:
        """Wait for the process to exit and its output to be read; return its status.

        :raises AssertionError: (with its output) if it still runs after *timeout*;
            it is killed then.
        """
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout} s: {self._report()}") from None
        self._close()
        return status

    def _close(self) -> None:
        for reader in self._readers:
            reader.join(TIMEOUT)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        """Kill the process if it still runs, and release its pipes."""
        if self.popen.poll() is None:
            self.popen.send_signal(signals.SIGKILL)
        self.popen.wait()
        self._close()


def doozer(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, new_session: bool = False
) -> Process:
    """Start ``python -m doozer *args`` in *cwd*."""
    return Process(["-m", "doozer", *args], cwd, env, new_session=new_session)


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


def written_lines(path: Path) -> list[str]:
    """The complete lines a running process has written to *path* so far.

    A process may be caught half-way through a line; that unfinished tail is left
    for the next read rather than parsed as a short line.
    """
    if not path.exists():
        return []
    text = path.read_text()
    return text[: text.rfind("\n") + 1].splitlines()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll *condition* until it holds; fail naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.02)

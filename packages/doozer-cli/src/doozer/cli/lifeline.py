"""The pipe that ties a supervisor's child processes to it.

The supervisor creates a pipe, keeps its write end to itself, and hands the
read end to each child it starts (its number is part of the child's
handoff, :mod:`doozer.cli._handoff`). Nothing
is ever written to it, so a read in the child returns only when the
supervisor is gone, however it went (even by SIGKILL): the child then stops
gracefully instead of running on as an orphan.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["watch_supervisor"]


def watch_supervisor(fd: int) -> None:
    """In the child: send SIGTERM to this process when the supervisor is gone.

    The application handles SIGTERM by finishing its in-flight messages.

    :param fd: the read end of the supervisor's pipe.
    """

    def wait() -> None:
        try:
            while os.read(fd, 512):
                pass
        except OSError:  # not a pipe from a supervisor after all: nothing to watch
            return
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="doozer-supervisor-lifeline", daemon=True).start()

"""The pipe that ties a reloader's child process to its supervisor.

The supervisor creates a pipe, keeps its write end to itself, and hands the
read end to each child it starts (its number in :data:`CHILD_ENV`). Nothing
is ever written to it, so a read in the child returns only when the
supervisor is gone, however it went (even by SIGKILL): the child then stops
gracefully instead of running on as an orphan.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["CHILD_ENV", "watch_supervisor"]

#: Set in the child's environment to the file descriptor of the pipe from
#: the supervisor; its presence also tells ``doozer run`` it is the child.
CHILD_ENV = "DOOZER_SUPERVISOR_FD"


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

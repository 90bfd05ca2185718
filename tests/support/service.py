"""What the services of the multi-process tests share (they run as subprocesses).

Each transport's ``tests/<transport>/service.py`` builds its application from
environment variables; these are the ones they read alike:
``DOOZER_TEST_DELAY`` (seconds per message), ``DOOZER_TEST_CRASH_ON`` (a body
that makes the process exit at once, as a crash would),
``DOOZER_TEST_CONNECT_TIMEOUT`` and ``DOOZER_TEST_OUTPUT`` (a file that gets a
line per processed message, written unbuffered so that SIGKILL loses none).
"""

from __future__ import annotations

import os

from doozer import Application

DELAY = float(os.environ.get("DOOZER_TEST_DELAY", "0"))
CRASH_ON = os.environ.get("DOOZER_TEST_CRASH_ON", "").encode()
CONNECT_TIMEOUT = float(os.environ.get("DOOZER_TEST_CONNECT_TIMEOUT", "30"))
# Opened (created) at import, as the tests expect the file once the service runs.
_OUTPUT = os.open(os.environ["DOOZER_TEST_OUTPUT"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)


def record(line: str) -> None:
    """Append *line* to ``DOOZER_TEST_OUTPUT`` at once (one unbuffered write)."""
    os.write(_OUTPUT, f"{line}\n".encode())


def announce_consuming(app: Application) -> None:
    """Print ``consuming`` once *app* has started: the tests wait for that line."""

    async def announce(app: Application) -> None:
        print("consuming", flush=True)

    app.startup(announce)

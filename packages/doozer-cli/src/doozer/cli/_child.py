"""A supervisor's child: ``python -m doozer.cli._child``, configured by its handoff.

It runs the application as ``doozer run`` would, with the options the
supervisor parsed (:mod:`doozer.cli._handoff`), and stops when the
supervisor is gone (:mod:`doozer.cli.lifeline`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

from ._handoff import HANDOFF_ENV, STOP_SIGNALS, Handoff
from .discovery import AppPath, load_app
from .lifeline import watch_supervisor
from .program import guarded
from .run import configure_logging, run_app

logger = logging.getLogger("doozer.cli")


def main() -> int:
    """Run the application of this child's handoff; return the exit status."""
    # Until the application handles signals itself (it replaces these
    # handlers), a stop has nothing to finish: exit at once, and cleanly, so
    # that a child told to stop while it was starting is not counted a
    # failure. The supervisor starts children with SIGINT and SIGTERM
    # blocked, so that none is lost before this point.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop_before_running)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        handoff = Handoff.take()
    except ValueError as error:
        print(f"doozer: error: {error}", file=sys.stderr)
        return 2
    if handoff is None:
        print(
            f"doozer: error: {__spec__.name if __spec__ else __name__} is started by "
            f"doozer's supervisor (with {HANDOFF_ENV} set): use doozer run",
            file=sys.stderr,
        )
        return 2
    watch_supervisor(handoff.lifeline)
    args = handoff.args()
    configure_logging(args.verbose, args.quiet)
    logger.debug(
        "Child %d (pid %d) runs with options %s",
        handoff.slot + 1,
        os.getpid(),
        json.dumps(handoff.options, sort_keys=True),
    )

    def run() -> int:
        app = load_app(AppPath(args.application_path))
        return run_app(app, args, handoff.message_limit)

    return guarded(run)


def _stop_before_running(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())

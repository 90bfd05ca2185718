"""What a supervisor hands each child process: its run configuration, as data.

The supervisor never rebuilds a command line for its children: it passes
the ``run`` options it parsed (every one, whatever options are added
later), the lifeline's file descriptor and what is particular to one child,
as JSON in :data:`HANDOFF_ENV`. The child takes it out of its environment
before the application loads, so the application's own subprocesses do not
mistake themselves for a supervisor's children.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .commands import HANDLER

__all__ = [
    "HANDOFF_ENV",
    "PROCESS_INDEX_ENV",
    "RECYCLED",
    "STOP_SIGNALS",
    "Handoff",
    "child_command",
]

#: The environment variable that carries the handoff to a child.
HANDOFF_ENV = "DOOZER_SUPERVISOR"
#: Set in each child's environment to its slot (0 to N - 1), which stays
#: the same across restarts: extensions use it, e.g. for a port per process.
PROCESS_INDEX_ENV = "DOOZER_PROCESS_INDEX"
#: A child's exit status when it stopped after its message limit, to be
#: replaced (sysexits' EX_TEMPFAIL: "try again").
RECYCLED = 75
#: Blocked while a child starts, until it can handle them.
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def child_command() -> list[str]:
    """The command that starts a child; it reads everything else from its handoff."""
    # -B: a child must not write bytecode, or the next child could load it for
    # a file edited within the same second to the same size (the .pyc check
    # compares only those) and run the old code.
    return [sys.executable, "-B", "-m", "doozer.cli._child"]


@dataclass
class Handoff:
    """A child's configuration.

    :param options: the parsed ``run`` options, by destination name.
    :param lifeline: the read end of the supervisor's lifeline pipe.
    :param slot: which of the supervisor's children this is (0-based).
    :param message_limit: stop (to be replaced) after this many messages.
    """

    options: dict[str, Any]
    lifeline: int
    slot: int = 0
    message_limit: int | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, lifeline: int) -> Handoff:
        """The handoff for *args*, which must hold only JSON values (argparse's do)."""
        options = {key: value for key, value in vars(args).items() if key != HANDLER}
        return cls(options=options, lifeline=lifeline)

    def for_child(self, slot: int, message_limit: int | None) -> Handoff:
        """A copy for the child in *slot*."""
        return Handoff(dict(self.options), self.lifeline, slot, message_limit)

    def args(self) -> argparse.Namespace:
        """The ``run`` options as the parser produced them in the supervisor."""
        return argparse.Namespace(**self.options)

    def encode(self) -> str:
        return json.dumps(
            {
                "options": self.options,
                "lifeline": self.lifeline,
                "slot": self.slot,
                "message_limit": self.message_limit,
            }
        )

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """*base* plus this handoff and the child's process index."""
        return {**base, HANDOFF_ENV: self.encode(), PROCESS_INDEX_ENV: str(self.slot)}

    @classmethod
    def take(cls) -> Handoff | None:
        """In a child: remove the handoff from the environment and return it.

        :raises ValueError: if the variable is set but does not hold a handoff.
        """
        text = os.environ.pop(HANDOFF_ENV, None)
        if text is None:
            return None
        try:
            data = json.loads(text)
            return cls(
                options=dict(data["options"]),
                lifeline=int(data["lifeline"]),
                slot=int(data["slot"]),
                message_limit=data["message_limit"],
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{HANDOFF_ENV} does not hold a supervisor's handoff") from error

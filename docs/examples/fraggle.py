"""An extension that adds commands to the ``doozer`` command line."""

from __future__ import annotations

from doozer import Application, Extension
from doozer.cli import register_commands


def trash(heap: "the trash heap to consult" = "marjory", *, times: int = 1, verbose=None):
    """Ask a trash heap for advice."""
    advice = "The answer is in the radishes."
    if verbose:
        advice += f" (asked {heap!r}, verbosity {verbose})"
    return "\n".join([advice] * times)


def count(app: Application, *, radish: "what to count" = "radishes"):
    """Show how many things the application is configured with."""
    return f"{app.name}: {app.settings['FRAGGLE_RADISHES']} {radish}"


class Fraggle(Extension):
    """Adds the ``fraggle`` commands."""

    DEFAULT_SETTINGS = {"FRAGGLE_RADISHES": 3}

    def register_cli(self) -> None:
        register_commands(
            "fraggle", [trash, count], namespace_kwargs={"help": "commands from Fraggle Rock"}
        )

"""``python -m doozer``: the ``doozer`` command line, which doozer-cli provides.

It ships with doozer-core so that, with the core alone installed, the
command says in one line what to install instead of Python's "No module
named doozer.__main__".
"""

from __future__ import annotations

import sys

#: What ``python -m doozer`` prints when doozer-cli is not installed.
NO_CLI = (
    "doozer: error: the doozer command line is not installed: "
    "python -m pip install doozer-cli (or doozer)"
)


def main() -> int:
    """Run ``doozer.cli.main()``; say what to install when it is missing."""
    try:
        from doozer.cli import main as cli_main
    except ModuleNotFoundError as error:
        if error.name != "doozer.cli":  # the CLI is there, something it needs is not
            raise
        print(NO_CLI, file=sys.stderr)
        return 1
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

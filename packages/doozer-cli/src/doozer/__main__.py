"""``python -m doozer``: the ``doozer`` command line (from doozer-cli)."""

from __future__ import annotations

import sys

from doozer.cli import main

if __name__ == "__main__":
    sys.exit(main())

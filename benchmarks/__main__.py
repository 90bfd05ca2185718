"""``python -m benchmarks``: run the suite, write results/latest.json and latest.md."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())

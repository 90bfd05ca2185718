"""The command line of ``python -m benchmarks``: run the suite, write the results."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import implementations, report
from .sizes import FULL
from .suite import SCENARIOS, run_suite

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS, default=SCENARIOS, help="scenarios to run"
    )
    parser.add_argument(
        "--implementations",
        nargs="+",
        choices=implementations.NAMES,
        default=implementations.NAMES,
        help="implementations to measure (default: all three)",
    )
    parser.add_argument("--repetitions", type=int, help="runs per measurement (default: 5)")
    parser.add_argument(
        "--smoke", action="store_true", help="a few thousand messages: checks the suite runs"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write results")
    args = parser.parse_args(argv)

    sizes = FULL.smoke() if args.smoke else FULL
    if args.repetitions:
        sizes = replace(sizes, repetitions=args.repetitions)
    names = [name for name in args.implementations if implementations.available(name)]
    missing = set(args.implementations) - set(names)
    if missing:
        print(f"not installed, skipped: {', '.join(sorted(missing))}", file=sys.stderr)

    started = time.perf_counter()
    results = run_suite(sizes, names, args.only)
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    json_path, markdown_path = report.write(results, args.output)
    print(report.markdown(results))
    print(f"Wrote {json_path} and {markdown_path} in {results['meta']['seconds']} s.")
    return 0

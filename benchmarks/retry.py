"""Retries that free the worker: ``python -m benchmarks.retry [--repetitions R]``.

1,000 messages through :mod:`doozer.testing` (``clock="real"``: retry
delays take real time), 4 workers, a callback that awaits 5 ms of I/O
(``asyncio.sleep``). Two runs side by side, interleaved, median of R:

- **no failures**: every message succeeds at once;
- **8 % failing once**: 80 messages raise ``RetryableException`` on their
  first attempt; ``Retry(delay=1)`` has the queue redeliver them after 1 s.

Retry must not hold a worker during the delay, so the failing run should
take about the no-failure time plus the delay. Target (issue 12):
``failing <= 1.5 x (no-failure + delay)``. Doozer 1.x slept in a worker:
its failing run took ~18 s against ~1.5 s.

Prints a markdown table and writes ``benchmarks/results/retry.md``; exits 1
when the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from doozer import Application
from doozer.contrib.retry import Retry, RetryableException
from doozer.testing import run_until_drained

from .stats import median

RESULTS = Path(__file__).resolve().parent / "results" / "retry.md"

MESSAGES = 1_000
FAILING_PERCENT = 8
DELAY = 1.0
WORKERS = 4
WORK = 0.005  # seconds of awaited I/O per message
TARGET = 1.5


def failing_ids(messages: int, percent: int) -> frozenset[int]:
    """Every (100 / percent)-th message, spread over the run: 80 of 1,000 at 8 %."""
    step = 100 / percent
    return frozenset(int(n * step) for n in range(messages * percent // 100))


def build(failing: frozenset[int]) -> Application:
    async def process(app: Application, message: Any) -> None:
        await asyncio.sleep(WORK)
        if message.body in failing and message.attempt == 1:
            raise RetryableException(f"message {message.body} fails once")

    app = Application("bench-retry", callback=process)
    Retry(app, delay=DELAY, threshold=3)
    return app


def run_once(failing: frozenset[int]) -> float:
    """Seconds from serving to the last message settled (startup and teardown included)."""
    app = build(failing)
    start = time.perf_counter()
    report = run_until_drained(app, range(MESSAGES), num_workers=WORKERS, clock="real")
    elapsed = time.perf_counter() - start
    counts = report.count()
    if counts != {"succeeded": MESSAGES}:
        raise RuntimeError(f"expected {MESSAGES} successes, got {dict(counts)}")
    retried = sum("retried" in record.kinds() for record in report.records)
    if retried != len(failing):
        raise RuntimeError(f"expected {len(failing)} retried messages, got {retried}")
    return elapsed


def table(clean: float, failing: float, failures: int) -> str:
    bound = TARGET * (clean + DELAY)
    ratio = failing / (clean + DELAY)
    verdict = "met" if failing <= bound else "MISSED"
    return "\n".join(
        [
            f"{MESSAGES:,} messages, {WORKERS} workers, {WORK * 1000:g} ms of awaited work each, "
            f'doozer.testing with clock="real"; {failures} messages ({FAILING_PERCENT} %) fail '
            f"once, RETRY_DELAY {DELAY:g} s",
            "",
            "| run | time (s) |",
            "|---|---|",
            f"| no failures | {clean:.3f} |",
            f"| {FAILING_PERCENT} % failing once | {failing:.3f} |",
            f"| target: 1.5 x (no failures + delay) | {bound:.3f} |",
            "",
            f"Ratio failing / (no failures + delay): **{ratio:.2f}** "
            f"(target <= {TARGET}: {verdict})",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retry", description=__doc__)
    parser.add_argument("--repetitions", type=int, default=3, help="runs of each (median)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the markdown file")
    args = parser.parse_args(argv)
    failing = failing_ids(MESSAGES, FAILING_PERCENT)
    clean_times, failing_times = [], []
    for _ in range(args.repetitions):  # interleaved: a slow moment hits both alike
        clean_times.append(run_once(frozenset()))
        failing_times.append(run_once(failing))
    clean, with_failures = median(clean_times), median(failing_times)
    text = table(clean, with_failures, len(failing))
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    return 0 if with_failures <= TARGET * (clean + DELAY) else 1


if __name__ == "__main__":
    sys.exit(main())

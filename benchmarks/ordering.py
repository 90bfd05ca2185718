"""``python -m benchmarks.ordering``: what per-key ordering costs, and what a hot key costs.

Callbacks await ``asyncio.sleep`` (an I/O stand-in): with instant callbacks
nothing ever overlaps and ordering could not matter. Runs are interleaved
and medians reported. Two rows, each a ratio measured side by side:

* **100 keys**: every message takes ``--sleep`` seconds, keys drawn at random
  from 100; Doozer with ``ordering_key`` vs Doozer without, at 10 workers.
  Target >= 0.9.
* **Hot key**: half of the messages have one key (each taking ``--hot-sleep``,
  short enough for one worker to keep up: no order can go faster than one
  message at a time), the other half 100 other keys (``--other-sleep`` each).
  The other keys' throughput with the hot key's messages in the stream vs
  the same stream without them, both ordered, 10 workers. Target >= 0.8
  (ideal 0.9: the hot key needs one of the ten workers).

Writes ``results/ordering.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import random
import sys
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter
from typing import Any

import doozer

from . import workload
from .implementations import loop_kind, new_loop
from .stats import median

RESULTS = Path(__file__).parent / "results" / "ordering.md"
WORKERS = 10
HOT = "hot"


class Timing:
    """Acknowledgement callback: when the last message of interest was done."""

    def __init__(self, interesting: Sequence[bool]) -> None:
        self.interesting = interesting
        self.left = sum(interesting)
        self.count = 0
        self.finished = 0.0

    async def acknowledge(self, app: Any, index: int) -> None:
        self.count += 1
        if self.interesting[index]:
            self.left -= 1
            if self.left == 0:
                self.finished = perf_counter()


def run(keys: Sequence[Hashable], sleeps: Sequence[float], ordered: bool) -> float:
    """Messages/s of the messages whose key is not HOT, from the first read to the last."""
    consumer = workload.InstantConsumer(len(keys), doozer.Abort)
    timing = Timing([key != HOT for key in keys])

    async def callback(app: Any, index: int) -> None:
        await asyncio.sleep(sleeps[index])

    key_of: Callable[[int], Hashable] = keys.__getitem__
    app = doozer.Application(
        "bench", consumer=consumer, callback=callback, ordering_key=key_of if ordered else None
    )
    app.message_acknowledgement(timing.acknowledge)
    gc.collect()
    loop = new_loop()
    try:
        app.run_forever(num_workers=WORKERS, loop=loop)
    finally:
        loop.close()
    if timing.count != len(keys):
        raise RuntimeError(f"acknowledged {timing.count} of {len(keys)} messages")
    return sum(key != HOT for key in keys) / (timing.finished - consumer.started)


def hundred_keys(messages: int, sleep: float, seed: int) -> tuple[list[Hashable], list[float]]:
    rng = random.Random(seed)
    return [rng.randrange(100) for _ in range(messages)], [sleep] * messages


def hot_stream(
    messages: int, hot_sleep: float, other_sleep: float, seed: int, with_hot: bool
) -> tuple[list[Hashable], list[float]]:
    """*messages* other-key messages, each followed by a hot one when *with_hot*."""
    rng = random.Random(seed)
    keys: list[Hashable] = []
    sleeps: list[float] = []
    for _ in range(messages):
        keys.append(rng.randrange(100))
        sleeps.append(other_sleep)
        if with_hot:
            keys.append(HOT)
            sleeps.append(hot_sleep)
    return keys, sleeps


def interleaved(variants: dict[str, Callable[[], float]], repetitions: int) -> dict[str, float]:
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repetitions):
        for name, measure in variants.items():
            rates[name].append(measure())
    return {name: median(values) for name, values in rates.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ordering")
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--sleep", type=float, default=0.002)
    parser.add_argument("--other-sleep", type=float, default=0.02)
    parser.add_argument("--hot-sleep", type=float, default=0.001)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    keys, sleeps = hundred_keys(args.messages, args.sleep, seed=1)
    hundred = interleaved(
        {
            "unordered": lambda: run(keys, sleeps, ordered=False),
            "ordered": lambda: run(keys, sleeps, ordered=True),
        },
        args.repetitions,
    )
    print(f"100 keys: {hundred}", flush=True)
    others = args.messages // 4
    with_hot = hot_stream(others, args.hot_sleep, args.other_sleep, seed=2, with_hot=True)
    without_hot = hot_stream(others, args.hot_sleep, args.other_sleep, seed=2, with_hot=False)
    hot = interleaved(
        {
            "without": lambda: run(*without_hot, ordered=True),
            "with": lambda: run(*with_hot, ordered=True),
            "with, unordered": lambda: run(*with_hot, ordered=False),
        },
        args.repetitions,
    )
    print(f"hot key: {hot}", flush=True)

    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    ratio_100 = hundred["ordered"] / hundred["unordered"]
    ratio_hot = hot["with"] / hot["without"]
    lines = [
        "# Per-key ordering",
        "",
        f"{now} · Python {platform.python_version()} · loop {loop_kind()} · {WORKERS} workers "
        f"· medians of {args.repetitions} interleaved runs · `python -m benchmarks.ordering`",
        "",
        "| Row | Reference (msg/s) | Measured (msg/s) | Ratio | Target | Result |",
        "|---|---|---|---|---|---|",
        f"| 100 keys, {args.messages:,} messages of {args.sleep * 1000:g} ms: ordered vs "
        f"unordered | {hundred['unordered']:,.0f} | {hundred['ordered']:,.0f} "
        f"| {ratio_100:.2f} | >= 0.9 x | {'PASS' if ratio_100 >= 0.9 else 'FAIL'} |",
        f"| Hot key (50 % of {2 * others:,} messages, {args.hot_sleep * 1000:g} ms each; others "
        f"{args.other_sleep * 1000:g} ms over 100 keys): other keys' throughput with vs without "
        f"the hot key, ordered | {hot['without']:,.0f} | {hot['with']:,.0f} "
        f"| {ratio_hot:.2f} | >= 0.8 x | {'PASS' if ratio_hot >= 0.8 else 'FAIL'} |",
        "",
        f"For reference, the hot-key stream without an ordering key: other keys at "
        f"{hot['with, unordered']:,.0f} msg/s (no order kept). The hot key's messages are "
        "short enough for one worker to keep up with them: a key's messages run one at a "
        "time, so when one key gets more work than one worker can do, reading pauses "
        "(bounded read-ahead) and every key slows down to that key's pace.",
    ]
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

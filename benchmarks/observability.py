"""``python -m benchmarks.observability``: Doozer's throughput with Prometheus(app) vs without.

The throughput scenario of the main suite (an instant consumer, a callback
returning one result, one postprocessor, one acknowledgement), run by Doozer
alone and by Doozer with :class:`doozer.contrib.prometheus.Prometheus`
(listening on a free port of 127.0.0.1; nothing scrapes it), interleaved,
at 1 and 10 workers. The target is a ratio of at least 0.9. Writes
``results/observability.md``.

Two figures per run, over the same span (first ``read()`` to the last
acknowledgement): messages per second of wall time, and messages per second
of this process's CPU time. On a shared machine another process's burst
slows the wall clock of whichever variant it hits, while the CPU time
counts only what this process did; the CPU ratio is the steadier measure
of the extension's own cost.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import doozer
from doozer.contrib.prometheus import Prometheus

from . import workload
from .implementations import loop_kind, new_loop
from .stats import median

Rates = tuple[float, float]  # (per wall second, per CPU second)

RESULTS = Path(__file__).parent / "results" / "observability.md"
TARGET = 0.9
VARIANTS = ("without", "with")


def throughput(variant: str, messages: int, workers: int) -> Rates:
    """Messages per second (wall, CPU) from the first read() to the last acknowledgement."""
    consumer = workload.InstantConsumer(messages, doozer.Abort)
    acks = workload.Acknowledgements(messages)
    app = doozer.Application("bench", consumer=consumer, callback=workload.callback)
    app.result_postprocessor(workload.postprocess)
    app.message_acknowledgement(acks.acknowledge)
    if variant == "with":
        # Before Prometheus(app): it reads its settings when initialized.
        app.settings.update(PROMETHEUS_HOST="127.0.0.1", PROMETHEUS_PORT=0)
        Prometheus(app)
    gc.collect()
    loop = new_loop()
    try:
        app.run_forever(num_workers=workers, loop=loop)
    finally:
        loop.close()
    acks.check(f"Doozer {variant} Prometheus")
    wall = messages / (acks.finished - consumer.started)
    return wall, messages / (acks.finished_cpu - consumer.started_cpu)


def measure(messages: int, repetitions: int, workers_list: Sequence[int]) -> list[dict[str, float]]:
    rows = []
    for workers in workers_list:
        wall: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        throughput("with", min(messages, 2000), workers)  # warm up imports and caches
        for _ in range(repetitions):
            for variant in VARIANTS:  # interleaved: a noisy moment hits both
                wall_rate, cpu_rate = throughput(variant, messages, workers)
                wall[variant].append(wall_rate)
                cpu[variant].append(cpu_rate)
        row = {"workers": float(workers)}
        for variant in VARIANTS:
            row[variant] = median(wall[variant])
            row[f"{variant}_cpu"] = median(cpu[variant])
        rows.append(row)
        print(
            f"{workers} worker(s): {row['without']:,.0f} msg/s without, {row['with']:,.0f} with "
            f"(CPU: {row['without_cpu']:,.0f} without, {row['with_cpu']:,.0f} with)",
            flush=True,
        )
    return rows


def table(rows: list[dict[str, float]], messages: int, repetitions: int) -> str:
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    lines = [
        "# Observability overhead: Prometheus(app)",
        "",
        f"{now} · Python {platform.python_version()} · loop {loop_kind()} · "
        f"{messages:,} messages per run · medians of {repetitions} interleaved runs",
        "",
        "Throughput scenario of the main suite (instant consumer, one result, one "
        "postprocessor, one acknowledgement); with the extension, its message observer "
        "(a plain function) is called once per message and its HTTP listener is up "
        "(not scraped). Wall: messages per second of elapsed time; CPU: messages per "
        "second of this process's CPU time, over the same span (steadier on a shared "
        "machine: see the module's docstring). The verdict is the CPU ratio's: on this "
        "shared machine the wall ratio moves by several points from run to run as other "
        "processes come and go.",
        "",
        "| Workers | Without (msg/s) | With Prometheus (msg/s) | With ÷ without (wall) "
        "| Without (msg/CPU s) | With (msg/CPU s) | With ÷ without (CPU) | Target "
        "| Result (CPU) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = row["with"] / row["without"]
        cpu_ratio = row["with_cpu"] / row["without_cpu"]
        verdict = "PASS" if cpu_ratio >= TARGET else "FAIL"
        lines.append(
            f"| {row['workers']:.0f} | {row['without']:,.0f} | {row['with']:,.0f} "
            f"| {ratio:.2f} | {row['without_cpu']:,.0f} | {row['with_cpu']:,.0f} "
            f"| {cpu_ratio:.2f} | >= {TARGET} x | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.observability")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = measure(args.messages, args.repetitions, args.workers)
    text = table(rows, args.messages, args.repetitions)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m benchmarks.observability``: Doozer's throughput with Prometheus(app) vs without.

The throughput scenario of the main suite (an instant consumer, a callback
returning one result, one postprocessor, one acknowledgement), run by Doozer
alone and by Doozer with :class:`doozer.contrib.prometheus.Prometheus`
(listening on a free port of 127.0.0.1; nothing scrapes it), interleaved,
at 1 and 10 workers. The target is a ratio of at least 0.9. Writes
``results/observability.md``.
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

RESULTS = Path(__file__).parent / "results" / "observability.md"
TARGET = 0.9
VARIANTS = ("without", "with")


def throughput(variant: str, messages: int, workers: int) -> float:
    """Messages per second from the first read() to the last acknowledgement."""
    consumer = workload.InstantConsumer(messages, doozer.Abort)
    acks = workload.Acknowledgements(messages)
    app = doozer.Application("bench", consumer=consumer, callback=workload.callback)
    app.result_postprocessor(workload.postprocess)
    app.message_acknowledgement(acks.acknowledge)
    if variant == "with":
        Prometheus(app)
        app.settings.update(PROMETHEUS_HOST="127.0.0.1", PROMETHEUS_PORT=0)
    gc.collect()
    loop = new_loop()
    try:
        app.run_forever(num_workers=workers, loop=loop)
    finally:
        loop.close()
    acks.check(f"Doozer {variant} Prometheus")
    return messages / (acks.finished - consumer.started)


def measure(messages: int, repetitions: int, workers_list: Sequence[int]) -> list[dict[str, float]]:
    rows = []
    for workers in workers_list:
        rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        throughput("with", min(messages, 2000), workers)  # warm up imports and caches
        for _ in range(repetitions):
            for variant in VARIANTS:  # interleaved: a noisy moment hits both
                rates[variant].append(throughput(variant, messages, workers))
        without, with_ = median(rates["without"]), median(rates["with"])
        rows.append({"workers": workers, "without": without, "with": with_})
        print(f"{workers} worker(s): {without:,.0f} msg/s without, {with_:,.0f} with", flush=True)
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
        "postprocessor, one acknowledgement); with the extension, its message wrapper, "
        "outcome callback and one result postprocessor run for every message, and its "
        "HTTP listener is up (not scraped).",
        "",
        "| Workers | Without (msg/s) | With Prometheus (msg/s) | With ÷ without "
        "| Target | Result |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = row["with"] / row["without"]
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        lines.append(
            f"| {row['workers']:.0f} | {row['without']:,.0f} | {row['with']:,.0f} "
            f"| {ratio:.2f} | >= {TARGET} x | {verdict} |"
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

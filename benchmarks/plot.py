"""``python -m benchmarks.plot``: the docs' figures and table from results/latest.json.

Writes into ``docs/_static/performance/``: ``throughput.png`` (messages per
second against workers), ``latency.png`` (the latency distribution) and
``results.csv`` (the results table, included by ``docs/performance.rst``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .implementations import LABELS, NAMES
from .report import csv_text
from .sizes import HENSON_MESSAGES_PER_WORKER

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
FIGURES = ROOT / "docs" / "_static" / "performance"
COLORS = {"doozer": "tab:blue", "baseline": "tab:gray", "henson": "tab:orange"}
LATENCY_TARGET = 0.0005  # seconds: issue 7's p99 target, drawn on the latency plot


def _label(name: str, by_name: dict[str, Any]) -> str:
    """The legend label: Henson's bounded message counts are named."""
    label = LABELS[name]
    if name != "henson" or "doozer" not in by_name:
        return label
    if by_name["henson"].get("messages") != by_name["doozer"].get("messages"):
        label += f" ({by_name['henson']['messages']:,.0f} msgs)"
    return label


def plot_throughput(results: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    throughput = results["throughput"]
    workers = sorted(throughput, key=int)
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for name in NAMES:
        if name not in throughput[workers[0]]:
            continue
        rates = [throughput[count][name]["rate"] for count in workers]
        label = LABELS[name]
        if name == "henson":
            label += f" ({HENSON_MESSAGES_PER_WORKER} msgs per worker)"
        axes.plot([int(count) for count in workers], rates, "o-", color=COLORS[name], label=label)
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="workers",
        ylabel="messages per second (median)",
        title="Throughput: instant consumer and callbacks",
    )
    axes.set_xticks([int(count) for count in workers], labels=workers)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_latency(results: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    latency = results["latency"]
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for name in NAMES:
        if name not in latency:
            continue
        milliseconds = [seconds * 1000 for seconds in latency[name]["distribution"]]
        axes.plot(
            milliseconds,
            range(len(milliseconds)),
            color=COLORS[name],
            label=_label(name, latency),
        )
    axes.axvline(LATENCY_TARGET * 1000, color="tab:red", linestyle="--", label="p99 target")
    workers = results["meta"]["sizes"]["latency_workers"]
    axes.set(
        xscale="log",
        xlabel="read() returned → acknowledgement started (ms)",
        ylabel="percentile",
        title=f"Latency: a message every 2 ms, {workers} workers",
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_table(results: dict[str, Any], directory: Path) -> Path:
    """The results table as CSV, for the docs' ``csv-table`` (needs no matplotlib)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.csv"
    path.write_text(csv_text(results))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plot", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS, help="a latest.json to draw")
    parser.add_argument("--output", type=Path, default=FIGURES, help="where to write")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    results = json.loads(args.results.read_text())
    written = [write_table(results, args.output)]
    if "throughput" in results:
        plot_throughput(results, args.output / "throughput.png")
        written.append(args.output / "throughput.png")
    if "latency" in results:
        plot_latency(results, args.output / "latency.png")
        written.append(args.output / "latency.png")
    for path in written:
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()

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
THROUGHPUT_TARGET = 0.9  # issue 7: Doozer >= 0.9 x the baseline at 1 and 10 workers
# Lines that stay apart when they overlap: solid with dots, dashed with hollow
# squares, dotted with triangles (and the colours differ too).
STYLES: dict[str, dict[str, Any]] = {
    "doozer": {"linestyle": "-", "marker": "o", "linewidth": 2, "zorder": 3},
    "baseline": {
        "linestyle": "--",
        "marker": "s",
        "markersize": 9,
        "markerfacecolor": "none",
        "linewidth": 1.5,
        "zorder": 2,
    },
    "henson": {"linestyle": ":", "marker": "^", "linewidth": 1.5, "zorder": 2},
}


def _label(name: str, by_name: dict[str, Any]) -> str:
    """The legend label: Henson's bounded message counts are named."""
    label = LABELS[name]
    if name != "henson" or "doozer" not in by_name:
        return label
    if by_name["henson"].get("messages") != by_name["doozer"].get("messages"):
        label += f" ({by_name['henson']['messages']:,.0f} msgs)"
    return label


def plot_throughput(results: dict[str, Any], path: Path) -> None:
    """Two panels: the rates (log scale), and Doozer ÷ baseline run by run.

    Doozer and the baseline are within a few per cent of each other, so on a
    log scale their lines would lie on top of one another: they get different
    line styles and markers, and the lower panel shows the ratio itself.
    """
    import matplotlib.pyplot as plt

    throughput = results["throughput"]
    workers = sorted(throughput, key=int)
    counts = [int(count) for count in workers]
    figure, (rates_axes, ratio_axes) = plt.subplots(
        2, 1, figsize=(6.4, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for name in NAMES:
        if name not in throughput[workers[0]]:
            continue
        rates = [throughput[count][name]["rate"] for count in workers]
        label = LABELS[name]
        if name == "henson":
            label += f" ({HENSON_MESSAGES_PER_WORKER} msgs per worker)"
        rates_axes.plot(counts, rates, color=COLORS[name], label=label, **STYLES[name])
    rates_axes.set(
        xscale="log",
        yscale="log",
        ylabel="messages per second (median)",
        title="Throughput: instant consumer and callbacks",
    )
    rates_axes.grid(True, which="both", alpha=0.3)
    rates_axes.legend(fontsize="small")
    if "baseline" in throughput[workers[0]] and "doozer" in throughput[workers[0]]:
        _plot_ratio(ratio_axes, throughput, workers)
    ratio_axes.set_xticks(counts, labels=workers)
    ratio_axes.set_xlabel("workers")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_ratio(axes: Any, throughput: dict[str, Any], workers: list[str]) -> None:
    """Doozer ÷ baseline: the median, and each interleaved run's own ratio as a dot."""
    counts = [int(count) for count in workers]
    medians = []
    for count, key in zip(counts, workers, strict=True):
        doozer_runs = throughput[key]["doozer"]["runs"]
        baseline_runs = throughput[key]["baseline"]["runs"]
        ratios = [
            mine["rate"] / theirs["rate"]
            for mine, theirs in zip(doozer_runs, baseline_runs, strict=True)
        ]
        axes.plot([count] * len(ratios), ratios, ".", color=COLORS["doozer"], alpha=0.4)
        medians.append(throughput[key]["doozer"]["rate"] / throughput[key]["baseline"]["rate"])
    axes.plot(
        counts, medians, color=COLORS["doozer"], label="Doozer ÷ baseline", **STYLES["doozer"]
    )
    axes.axhline(1.0, color=COLORS["baseline"], linestyle="--", linewidth=1, label="baseline")
    axes.axhline(
        THROUGHPUT_TARGET, color="tab:red", linestyle=":", label="target (1 and 10 workers)"
    )
    axes.set(xscale="log", ylabel="Doozer ÷ baseline")
    low = min(0.85, *medians) - 0.02
    axes.set_ylim(low, max(1.1, *medians) + 0.02)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="lower right")


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
            # Doozer wide and pale underneath, the baseline dashed on top:
            # both stay visible where the two distributions coincide.
            linestyle=STYLES[name]["linestyle"],
            linewidth=4 if name == "doozer" else 1.5,
            alpha=0.55 if name == "doozer" else 1.0,
            zorder=1 if name == "doozer" else 2,
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

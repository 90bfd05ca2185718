"""Turn a results dictionary into table rows, a markdown page, CSV and JSON files."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .implementations import LABELS, NAMES
from .targets import MIB, check

HEADER = [
    "Scenario",
    "Metric",
    *(LABELS[name] for name in NAMES),
    "Doozer ÷ baseline",
    "Henson ÷ baseline",
    "Target (Doozer)",
    "Result",
]

Row = list[str]
Format = Callable[[float], str]


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _milliseconds(value: float) -> str:
    milliseconds = value * 1000
    if milliseconds >= 100:
        return f"{milliseconds:,.0f}"
    return f"{milliseconds:.1f}" if milliseconds >= 10 else f"{milliseconds:.3f}"


def _mebibytes(value: float) -> str:
    return f"{value / MIB:.1f}"


def _kibibytes(value: float) -> str:
    """RSS moves in whole 4 KiB pages: 0 means less than a page."""
    return f"{value / 1024:,.0f}"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _times(value: float) -> str:
    return f"{value:.3f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def _row(
    scenario: str,
    metric: str,
    by_name: dict[str, dict[str, Any]],
    key: str,
    fmt: Format,
    checked: dict[str, Any] | None = None,
    ratios: bool = True,
) -> Row:
    """One table row: the median of *key* per implementation, ratios, target.

    *ratios* False: no ratio columns (for counts around zero, where a ratio means nothing).
    """
    cells, values = [], {}
    reference = by_name.get("doozer", {}).get("messages")
    for name in NAMES:
        if name not in by_name:
            cells.append("—")
            continue
        values[name] = value = by_name[name][key]
        cell = fmt(value)
        messages = by_name[name].get("messages")
        if reference is not None and messages is not None and messages != reference:
            cell += f" ({messages:,.0f} msgs)"  # a bounded Henson run: say so
        cells.append(cell)
    baseline = values.get("baseline")
    ratio_cells = [
        _ratio(values[name] / baseline) if ratios and name in values and baseline else "—"
        for name in ("doozer", "henson")
    ]
    target = result = ""
    if checked is not None:
        target = checked["description"]
        result = "PASS" if checked["passed"] else "FAIL"
    return [scenario, metric, *cells, *ratio_cells, target, result]


def rows(results: dict[str, Any]) -> list[Row]:
    """The results table, one row per measured figure."""
    checked = check(results)
    table = []
    for workers, by_name in results.get("throughput", {}).items():
        plural = "worker" if workers == "1" else "workers"
        scenario = f"Throughput, {workers} {plural}"
        table.append(
            _row(scenario, "msg/s", by_name, "rate", _rate, checked.get(f"throughput-{workers}"))
        )
    if "latency" in results:
        workers = results["meta"]["sizes"]["latency_workers"]
        for key in ("p50", "p99", "max"):
            table.append(
                _row(
                    f"Latency, {workers} workers",
                    f"{key} (ms)",
                    results["latency"],
                    key,
                    _milliseconds,
                    checked.get("latency-p99") if key == "p99" else None,
                )
            )
    if "concurrency" in results:
        workers = results["meta"]["sizes"]["concurrency_workers"]
        scenario = f"Concurrency, {workers} workers"
        by_name = results["concurrency"]
        table.append(_row(scenario, "msg/s", by_name, "rate", _rate))
        target = checked.get("concurrency")
        table.append(_row(scenario, "ratio to ideal", by_name, "of_ideal", _times, target))
    if "memory" in results:
        table += _memory_rows(results, checked)
    if "startup" in results:
        table += _startup_rows(results["startup"], checked)
    return table


def _memory_rows(results: dict[str, Any], checked: dict[str, Any]) -> list[Row]:
    by_name = results["memory"]
    table = [
        _row("Memory", "RSS after the warm-up (MiB)", by_name, "rss_warm", _mebibytes),
        _row("Memory", "RSS at the end (MiB)", by_name, "rss_end", _mebibytes),
        _row(
            "Memory",
            "RSS growth in between (KiB)",
            by_name,
            "growth",
            _kibibytes,
            checked.get("memory"),
        ),
    ]
    if "blocks_growth" in by_name.get("doozer", {}):
        table.append(
            _row(
                "Memory",
                "live Python blocks, growth",
                by_name,
                "blocks_growth",
                _count,
                ratios=False,
            )
        )
    control = results.get("memory_control")
    if control is not None:
        scenario = f"Memory, leak control: Doozer keeps 1 msg in {control['retain']}"
        cells = [_kibibytes(control["growth"]), "—", "—"]
        table.append([scenario, "RSS growth (KiB)", *cells, "—", "—", "", ""])
        cells = [_count(control["blocks_growth"]), "—", "—"]
        table.append([scenario, "live Python blocks, growth", *cells, "—", "—", "", ""])
    return table


def _startup_rows(startup: dict[str, Any], checked: dict[str, Any]) -> list[Row]:
    # "import" is what each program imports before its loop runs (doozer +
    # asyncio, asyncio, henson): the like-for-like row; the framework alone
    # (doozer, henson) carries issue 7's target.
    table = [_row("Start-up", "import (ms)", startup["import"], "seconds", _milliseconds)]
    if "framework" in startup:
        table.append(
            _row(
                "Start-up",
                "import doozer / henson alone (ms)",
                startup["framework"],
                "seconds",
                _milliseconds,
                checked.get("import"),
            )
        )
    quickstart = startup["quickstart"]
    if all("first" in by_name for by_name in quickstart.values()):
        table.append(
            _row("Start-up", "quickstart, first message (ms)", quickstart, "first", _milliseconds)
        )
    table.append(_row("Start-up", "quickstart to exit (ms)", quickstart, "seconds", _milliseconds))
    return table


def markdown(results: dict[str, Any]) -> str:
    """The table as GitHub markdown, with what was measured where."""
    meta = results["meta"]
    sizes = meta["sizes"]
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    lines = [
        "# Doozer benchmarks",
        "",
        f"{meta['date']} · Python {meta['python']} · {meta['cpus']} CPUs · "
        f"loop {meta['loop']} · {versions}",
        "",
        f"Medians of {sizes['repetitions']} runs ({sizes['startup_repetitions']} for start-up). "
        "Ratios are to the hand-written asyncio baseline. "
        "Henson polls its queue every 0.1 s, so its runs are bounded: a count in "
        "parentheses is the number of messages it was given instead. "
        "Memory: RSS is counted in 4 KiB pages, so a growth of 0 means less than a page; "
        "live Python blocks are `sys.getallocatedblocks()` after a `gc.collect()`; the leak "
        "control is one run that keeps every 100th message, to show what a leak looks like. "
        "Start-up, in fresh processes: `import` is what each program imports before its loop "
        "runs (doozer and asyncio; asyncio; henson, which imports asyncio), the quickstart "
        "is timed from process start to its first message printed and to exit.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines) + "\n"


def csv_text(results: dict[str, Any]) -> str:
    """The table as CSV with a header row (for the docs' csv-table)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows(results))
    return buffer.getvalue()


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` into *directory*."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = directory / "latest.json", directory / "latest.md"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    markdown_path.write_text(markdown(results))
    return json_path, markdown_path

"""Run every scenario for every implementation, several times, and keep the medians.

Repetitions are interleaved (run 1 of each implementation, then run 2 ...),
so a slow moment on a shared machine hits all implementations alike rather
than all runs of one.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from functools import partial
from typing import Any

from . import implementations, memory, scenarios, startup
from .sizes import Sizes
from .stats import median, percentile

SCENARIOS = ("throughput", "latency", "concurrency", "memory", "startup")
HENSON_QUICKSTART_REPETITIONS = 3  # Henson takes seconds to print the quickstart

Progress = Callable[[str], None]
Measure = Callable[[str], dict[str, Any]]


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The median of each number over *runs*.

    Latency samples are pooled and kept as their distribution (the 0th to
    100th percentiles), enough to plot it without storing every sample.
    """
    summary: dict[str, Any] = {}
    for key, value in runs[0].items():
        if key == "samples":
            pooled = [sample for run in runs for sample in run[key]]
            summary["distribution"] = [percentile(pooled, percent) for percent in range(101)]
        elif isinstance(value, (int, float)):
            summary[key] = median([run[key] for run in runs])
    summary["runs"] = [{k: v for k, v in run.items() if k != "samples"} for run in runs]
    return summary


def repeat(
    label: str, measure: Measure, names: Iterable[str], repetitions: int, progress: Progress
) -> dict[str, Any]:
    """Run ``measure(name)`` *repetitions* times per name, interleaved; summarize each."""
    names = list(names)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for repetition in range(1, repetitions + 1):
        for name in names:
            result = measure(name)
            runs[name].append(result)
            shown = ", ".join(f"{k}={v:.6g}" for k, v in result.items() if k != "samples")
            progress(f"{label:<24} {name:<8} run {repetition}/{repetitions}: {shown}")
    return {name: summarize(name_runs) for name, name_runs in runs.items()}


def run_suite(
    sizes: Sizes,
    names: Sequence[str] = implementations.NAMES,
    only: Iterable[str] = SCENARIOS,
    progress: Progress = lambda line: print(line, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    """Measure the scenarios in *only* for *names*; return everything as plain data."""
    only = set(only)
    reps = sizes.repetitions
    results: dict[str, Any] = {"meta": _meta(sizes, names)}
    if "throughput" in only:
        results["throughput"] = {
            str(workers): repeat(
                f"throughput {workers} workers",
                partial(scenarios.throughput, sizes=sizes, workers=workers),
                names,
                reps,
                progress,
            )
            for workers in sizes.throughput_workers
        }
    measures = {
        "latency": partial(scenarios.latency, sizes=sizes),
        "concurrency": partial(scenarios.concurrency, sizes=sizes),
        "memory": partial(memory.measure, sizes=sizes),
    }
    for scenario, measure in measures.items():
        if scenario in only:
            results[scenario] = repeat(scenario, measure, names, reps, progress)
    if "memory" in only and "doozer" in names:
        # The leak control: one run that keeps every 100th message, so the
        # table shows what a real leak would look like next to the growth.
        control = memory.measure("doozer", sizes, retain=memory.CONTROL_RETAIN)
        progress(f"{'memory leak control':<24} doozer: growth={control['growth']}")
        results["memory_control"] = control
    if "startup" in only:
        results["startup"] = _startup(sizes, names, progress)
    return results


def _startup(sizes: Sizes, names: Sequence[str], progress: Progress) -> dict[str, Any]:
    imports = repeat(
        "import",
        lambda name: {"seconds": startup.import_seconds(name)},
        names,
        sizes.startup_repetitions,
        progress,
    )
    frameworks = repeat(
        "import framework alone",
        lambda name: {"seconds": startup.framework_seconds(name)},
        [name for name in names if name in startup.FRAMEWORKS],
        sizes.startup_repetitions,
        progress,
    )
    quickstart = {
        name: repeat(
            "quickstart",
            startup.quickstart_run,
            [name],
            min(sizes.startup_repetitions, HENSON_QUICKSTART_REPETITIONS)
            if name == "henson"
            else sizes.startup_repetitions,
            progress,
        )[name]
        for name in names
    }
    return {"import": imports, "framework": frameworks, "quickstart": quickstart}


def _meta(sizes: Sizes, names: Sequence[str]) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loop": implementations.loop_kind(),
        "versions": implementations.versions(),
        "implementations": list(names),
        "sizes": asdict(sizes),
    }

"""The benchmark suite runs end to end, small (no thresholds: numbers here mean nothing).

Only Doozer and the asyncio baseline run here: Henson, uvloop and matplotlib
belong to the ``bench`` environment, not to the test environment.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from benchmarks import cli, memory, plot, report, scenarios, startup
from benchmarks.sizes import FULL
from benchmarks.targets import TARGETS, check

SMOKE = FULL.smoke()
NAMES = ("doozer", "baseline")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("workers", [1, 10])
def test_throughput_counts_every_message(name: str, workers: int) -> None:
    result = scenarios.throughput(name, SMOKE, workers)
    assert result["messages"] == SMOKE.throughput_messages
    assert result["rate"] > 0
    assert result["cpu_rate"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_latency_has_one_sample_per_message(name: str) -> None:
    result = scenarios.latency(name, SMOKE)
    assert len(result["samples"]) == SMOKE.latency_messages
    assert 0 < result["p50"] <= result["p99"] <= result["max"]


@pytest.mark.parametrize("name", NAMES)
def test_concurrency_is_compared_to_the_ideal(name: str) -> None:
    result = scenarios.concurrency(name, SMOKE)
    assert result["ideal"] == SMOKE.concurrency_workers / SMOKE.concurrency_sleep
    assert result["of_ideal"] == pytest.approx(result["rate"] / result["ideal"])


@pytest.mark.parametrize("name", NAMES)
def test_memory_runs_in_a_child_process(name: str) -> None:
    result = memory.measure(name, SMOKE)
    assert result["messages"] == SMOKE.memory_messages
    assert result["rss_warm"] > 0
    assert result["growth"] == result["rss_end"] - result["rss_warm"]


@pytest.mark.parametrize("name", NAMES)
def test_startup_measures_import_and_quickstart(name: str) -> None:
    assert startup.import_seconds(name) > 0
    assert startup.quickstart_seconds(name) > 0


def test_importtime_report_is_parsed() -> None:
    report_text = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        340 |   doozer.base\n"
        "import time:        80 |        420 | doozer\n"
    )
    assert startup._cumulative(report_text, "doozer") == pytest.approx(420e-6)
    with pytest.raises(ValueError, match="no top-level import"):
        startup._cumulative(report_text, "asyncio")


def test_command_writes_results_table_and_docs_csv(tmp_path: Path) -> None:
    status = cli.main(["--smoke", "--implementations", *NAMES, "--output", str(tmp_path)])
    assert status == 0
    results = json.loads((tmp_path / "latest.json").read_text())
    assert set(check(results)) == {target.key for target in TARGETS}
    table = (tmp_path / "latest.md").read_text()
    assert "| Throughput, 1 worker | msg/s |" in table
    assert "| Start-up | import (ms) |" in table

    path = plot.write_table(results, tmp_path / "docs")
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == report.HEADER
    assert all(len(row) == len(report.HEADER) for row in rows)
    assert all(row[4] == "—" for row in rows[1:])  # Henson was not run

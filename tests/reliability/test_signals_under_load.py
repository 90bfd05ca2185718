"""Signals against a real ``doozer run`` process with thousands of messages flowing."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from ..support.processes import Process

APP = ["-m", "doozer", "run", "--workers", "50", "tests.reliability.loaded"]


def summary(process: Process) -> dict[str, int]:
    line = next(line for line in process.stdout if line.startswith("summary "))
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_under_load_drains_everything_read(repo_root: Path, signum: int) -> None:
    process = Process(APP, cwd=repo_root)
    try:
        process.wait_for("flowing")
        time.sleep(0.5)  # let thousands more flow
        signalled = time.monotonic()
        process.signal(signum)
        status = process.finish()
        drained_in = time.monotonic() - signalled
    finally:
        process.kill()
    assert status == 0, process.stderr
    counts = summary(process)
    assert counts["read"] > 2000
    assert counts["acknowledged"] == counts["read"]
    assert counts["duplicates"] == 0
    assert counts["outcomes"] == counts["once"] == counts["read"]
    assert process.stdout.count("teardown started") == 1
    # 50 messages of at most 5 ms were in flight: the drain is quick.
    assert drained_in < 5


@pytest.mark.slow
def test_signal_during_teardown_lets_it_finish(repo_root: Path) -> None:
    process = Process(
        APP, cwd=repo_root, env={"LOADED_LIMIT": "500", "LOADED_TEARDOWN_SECONDS": "0.5"}
    )
    try:
        process.wait_for("teardown started")
        process.signal(signal.SIGTERM)
        status = process.finish()
    finally:
        process.kill()
    assert status == 0, process.stderr
    assert summary(process) == {
        "read": 500, "acknowledged": 500, "duplicates": 0, "outcomes": 500, "once": 500
    }  # fmt: skip


@pytest.mark.slow
def test_second_signal_during_teardown_cuts_it_short(repo_root: Path) -> None:
    process = Process(
        [*APP, "-v"], cwd=repo_root, env={"LOADED_LIMIT": "500", "LOADED_TEARDOWN_SECONDS": "30"}
    )
    try:
        process.wait_for("teardown started")
        process.signal(signal.SIGTERM)
        process.wait_for("Received SIGTERM")
        process.signal(signal.SIGTERM)
        status = process.finish(timeout=5)
    finally:
        process.kill()
    assert status == 0, process.stderr
    assert "Teardown was cut short by a forced stop" in "\n".join(process.stderr)
    assert not any(line.startswith("summary") for line in process.stdout)

"""A million messages through ten workers with random failures: none lost, memory flat."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

MESSAGES = 1_000_000


@pytest.mark.slow
def test_a_million_messages(repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.reliability.soak", str(MESSAGES), "10"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", result.stdout)}
    assert figures["read"] == MESSAGES
    assert figures["acknowledged"] == MESSAGES
    assert figures["twice"] == 0
    assert figures["outcomes"] == MESSAGES  # one outcome each
    assert 5_000 < figures["errors"] < 15_000  # about 1% failed, and reached the error callback
    # Memory stays flat after the first 100,000 messages.
    assert figures["rss_end"] - figures["rss_start"] < 10 * 1024

"""doozer.backoff.Backoff: the waits between tries, within a deadline."""

from __future__ import annotations

import math
import subprocess
import sys

from doozer.backoff import Backoff


def test_waits_double_up_to_the_cap_and_count_the_attempts() -> None:
    backoff = Backoff(0.5, 3)
    assert backoff.left == math.inf
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1, 2, 3, 3]
    assert backoff.attempt == 6
    backoff.reset()
    assert (backoff.next_delay(), backoff.attempt) == (0.5, 2)


def test_a_wait_ends_at_the_deadline_and_then_it_says_give_up() -> None:
    backoff = Backoff(100, 100, timeout=5)
    wait = backoff.next_wait()
    assert wait is not None
    assert 4 < wait <= 5  # shortened to the time left
    assert Backoff(0.1, 1, timeout=0).next_wait() is None
    assert Backoff(0.1, 1, timeout=-1).attempt == 1


async def test_sleep_waits() -> None:
    await Backoff.sleep(0)


def test_importing_doozer_imports_no_asyncio() -> None:
    code = "import sys, doozer, doozer.backoff; print('asyncio' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"

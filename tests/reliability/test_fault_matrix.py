"""Every hook x every fault x 1 and 4 workers: the documented outcome, nothing lost.

The table below is the one in docs/shutdown.rst ("What happens when a
callback fails"). For each hook and fault it says whether the application
keeps consuming, which messages end up acknowledged, and how it ends.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from doozer import Abort

from ..support.processes import Process
from .faulty import FAULTS, FAULTY_MESSAGE, HOOKS, MESSAGES, InjectedError, build


@dataclass(frozen=True)
class Outcome:
    reads_all: bool | None  # consumption goes on after the fault (None: while workers last)
    acknowledges_faulty: bool  # the faulty message is acknowledged
    raises: type[BaseException] | None  # what run_forever raises (None: returns)

    @property
    def exit_status(self) -> int:
        return 0 if self.raises is None else 1


CONTINUES = Outcome(reads_all=True, acknowledges_faulty=True, raises=None)
SKIPS_ACK = Outcome(reads_all=True, acknowledges_faulty=False, raises=None)
STOPS = Outcome(reads_all=False, acknowledges_faulty=False, raises=InjectedError)
TIMES_OUT = Outcome(reads_all=None, acknowledges_faulty=False, raises=TimeoutError)

EXPECTED: dict[tuple[str, str], Outcome] = {
    # The consumer's 4th read misbehaves: there is no faulty message.
    ("consumer", "abort"): Outcome(reads_all=False, acknowledges_faulty=True, raises=None),
    ("consumer", "raise"): Outcome(reads_all=False, acknowledges_faulty=True, raises=InjectedError),
    ("consumer", "hang"): Outcome(reads_all=False, acknowledges_faulty=True, raises=None),
    ("startup", "abort"): Outcome(reads_all=False, acknowledges_faulty=False, raises=Abort),
    ("startup", "raise"): STOPS,
    ("startup", "hang"): TIMES_OUT,
    ("preprocessor", "abort"): CONTINUES,
    ("preprocessor", "raise"): CONTINUES,
    ("preprocessor", "hang"): TIMES_OUT,
    ("callback", "abort"): CONTINUES,
    ("callback", "raise"): CONTINUES,
    ("callback", "hang"): TIMES_OUT,
    ("postprocessor", "abort"): CONTINUES,
    ("postprocessor", "raise"): STOPS,
    ("postprocessor", "hang"): TIMES_OUT,
    ("error", "abort"): CONTINUES,
    ("error", "raise"): STOPS,
    ("error", "hang"): TIMES_OUT,
    ("acknowledgement", "abort"): SKIPS_ACK,
    ("acknowledgement", "raise"): STOPS,
    ("acknowledgement", "hang"): TIMES_OUT,
    ("teardown", "abort"): Outcome(reads_all=True, acknowledges_faulty=True, raises=Abort),
    ("teardown", "raise"): Outcome(reads_all=True, acknowledges_faulty=True, raises=InjectedError),
    ("teardown", "hang"): Outcome(reads_all=True, acknowledges_faulty=True, raises=TimeoutError),
}

# A hang never ends by itself: the operator's SIGINT starts the (1 s) shutdown.
SIGNAL_AFTER = 0.3


def test_the_table_covers_every_case() -> None:
    assert set(EXPECTED) == {(hook, fault) for hook in HOOKS for fault in FAULTS}


def reported_lost(caplog: pytest.LogCaptureFixture) -> set[int]:
    """The messages the application logged as cancelled or never processed."""
    lost: set[int] = set()
    for record in caplog.records:
        text = record.getMessage()
        if text.startswith("Cancelled while processing message "):
            lost.add(int(text.rsplit(" ", 1)[1]))
        elif "were read but never processed: " in text:
            lost.update(int(m) for m in text.split(": ", 1)[1].split(", "))
    return lost


@pytest.mark.parametrize("num_workers", [1, 4])
@pytest.mark.parametrize(("hook", "fault"), list(EXPECTED))
def test_outcome(hook: str, fault: str, num_workers: int, caplog: pytest.LogCaptureFixture) -> None:
    expected = EXPECTED[hook, fault]
    app, record = build(hook, fault)
    interrupt = threading.Timer(SIGNAL_AFTER, os.kill, (os.getpid(), signal.SIGINT))
    if fault == "hang":
        interrupt.start()
    try:
        if expected.raises is None:
            app.run_forever(num_workers=num_workers)
        else:
            with pytest.raises(expected.raises):
                app.run_forever(num_workers=num_workers)
    finally:
        interrupt.cancel()

    assert (record.startups, record.teardowns) == (1, 1)
    if hook == "startup":
        assert record.read == []
    elif expected.reads_all:
        assert record.read == list(range(MESSAGES))
    elif expected.reads_all is False:
        assert len(record.read) < MESSAGES
    # Each message read is acknowledged once at most, the faulty one as the
    # table says; any other that is not was cancelled by the forced stop,
    # and the log names it (a broker would deliver it again).
    acknowledged = sorted(record.acknowledged)
    assert len(acknowledged) == len(set(acknowledged))
    unacknowledged = set(record.read) - set(acknowledged)
    if expected.acknowledges_faulty:
        assert FAULTY_MESSAGE not in unacknowledged
    elif FAULTY_MESSAGE in record.read:
        assert FAULTY_MESSAGE in unacknowledged
    if expected.raises is TimeoutError:
        assert unacknowledged == reported_lost(caplog)
    else:
        assert unacknowledged <= {FAULTY_MESSAGE}
        assert reported_lost(caplog) == set()


@pytest.mark.slow
@pytest.mark.parametrize(("hook", "fault"), list(EXPECTED))
def test_command_line_exit_status(hook: str, fault: str, repo_root: Path) -> None:
    process = Process(
        ["-m", "doozer", "run", "--workers", "4", "tests.reliability.faulty:make"],
        cwd=repo_root,
        env={"FAULTY_HOOK": hook, "FAULTY_FAULT": fault},
    )
    try:
        process.wait_for("started")
        if fault == "hang":
            threading.Event().wait(SIGNAL_AFTER)
            process.signal(signal.SIGINT)
        status = process.finish()
    finally:
        process.kill()
    assert status == EXPECTED[hook, fault].exit_status, process.stderr
    assert process.stdout.count("teardown") == 1
    assert not any(line.startswith("Traceback") for line in process.stderr[-3:])

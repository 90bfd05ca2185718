"""Every hook x every fault x 1 and 4 workers: the documented outcome, nothing lost.

The table below is the one in docs/shutdown.rst ("What happens when a
callback fails"). For each hook and fault it says whether the application
keeps consuming, which messages end up acknowledged, the faulty message's
outcome, and how the run ends. Each case runs over a plain consumer and over
deliveries (doozer.testing), where every delivery must be settled exactly
once, with its outcome, and the unfinished ones returned to the queue.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from doozer import Abort

from ..support.processes import Process
from .faulty import FAULTS, FAULTY_MESSAGE, HOOKS, MESSAGES, InjectedError, build


@dataclass(frozen=True)
class Expected:
    reads_all: bool | None  # consumption goes on after the fault (None: while workers last)
    acknowledges_faulty: bool  # the faulty message is acknowledged
    raises: type[BaseException] | None  # what run_forever raises (None: returns)
    faulty_outcome: str = "succeeded"  # the faulty message's outcome, when it was read

    @property
    def exit_status(self) -> int:
        return 0 if self.raises is None else 1


ABORTED = Expected(reads_all=True, acknowledges_faulty=True, raises=None, faulty_outcome="aborted")
FAILED = Expected(reads_all=True, acknowledges_faulty=True, raises=None, faulty_outcome="failed")
CONTINUES = Expected(reads_all=True, acknowledges_faulty=True, raises=None)
SKIPS_ACK = Expected(reads_all=True, acknowledges_faulty=False, raises=None)
STOPS = Expected(
    reads_all=False, acknowledges_faulty=False, raises=InjectedError, faulty_outcome="unfinished"
)
TIMES_OUT = Expected(
    reads_all=None, acknowledges_faulty=False, raises=TimeoutError, faulty_outcome="unfinished"
)

EXPECTED: dict[tuple[str, str], Expected] = {
    # The consumer's 4th read misbehaves: there is no faulty message.
    ("consumer", "abort"): Expected(reads_all=False, acknowledges_faulty=True, raises=None),
    ("consumer", "raise"): Expected(
        reads_all=False, acknowledges_faulty=True, raises=InjectedError
    ),
    ("consumer", "hang"): Expected(reads_all=False, acknowledges_faulty=True, raises=None),
    ("startup", "abort"): Expected(reads_all=False, acknowledges_faulty=False, raises=Abort),
    ("startup", "raise"): STOPS,
    ("startup", "hang"): TIMES_OUT,
    ("preprocessor", "abort"): ABORTED,
    ("preprocessor", "raise"): FAILED,
    ("preprocessor", "hang"): TIMES_OUT,
    ("callback", "abort"): ABORTED,
    ("callback", "raise"): FAILED,
    ("callback", "hang"): TIMES_OUT,
    ("postprocessor", "abort"): CONTINUES,
    ("postprocessor", "raise"): STOPS,
    ("postprocessor", "hang"): TIMES_OUT,
    ("error", "abort"): FAILED,
    ("error", "raise"): STOPS,
    ("error", "hang"): TIMES_OUT,
    ("acknowledgement", "abort"): SKIPS_ACK,
    ("acknowledgement", "raise"): STOPS,
    ("acknowledgement", "hang"): TIMES_OUT,
    ("teardown", "abort"): Expected(reads_all=True, acknowledges_faulty=True, raises=Abort),
    ("teardown", "raise"): Expected(reads_all=True, acknowledges_faulty=True, raises=InjectedError),
    ("teardown", "hang"): Expected(reads_all=True, acknowledges_faulty=True, raises=TimeoutError),
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
        # A message shows as its number, a delivery's (shortened) repr ends with it.
        if text.startswith("Cancelled while processing message "):
            lost.update(map(int, re.findall(r"(\d+)>?$", text)))
        elif "were read but never processed: " in text:
            lost.update(map(int, re.findall(r"(\d+)>?(?:, |$)", text.split(": ", 1)[1])))
    return lost


@pytest.mark.parametrize("deliveries", [False, True], ids=["plain", "deliveries"])
@pytest.mark.parametrize("num_workers", [1, 4])
@pytest.mark.parametrize(("hook", "fault"), list(EXPECTED))
def test_outcome(
    hook: str, fault: str, num_workers: int, deliveries: bool, caplog: pytest.LogCaptureFixture
) -> None:
    expected = EXPECTED[hook, fault]
    app, record = build(hook, fault, deliveries=deliveries)
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

    # Every message read has exactly one outcome: the faulty one as the table
    # says, the others succeeded, or unfinished when a forced stop cut them short.
    assert sorted(record.outcomes) == sorted(record.read)
    assert all(len(names) == 1 for names in record.outcomes.values()), record.outcomes
    outcomes = {m: names[0] for m, names in record.outcomes.items()}
    if FAULTY_MESSAGE in outcomes and hook not in ("consumer", "teardown"):
        assert outcomes[FAULTY_MESSAGE] == expected.faulty_outcome
    for message, name in outcomes.items():
        if message != FAULTY_MESSAGE or hook in ("consumer", "teardown"):
            assert name == ("unfinished" if message in reported_lost(caplog) else "succeeded")
    if deliveries:
        assert_settled_once(app.extensions["queue"].records, outcomes)


def assert_settled_once(records: list[Any], outcomes: dict[int, str]) -> None:
    """Each delivery read was settled exactly once with its outcome; unfinished ones returned."""
    settling = {"acknowledged", "dead_lettered", "returned", "retried"}
    for queued in records:
        settled = [kind for kind in queued.kinds() if kind in settling]
        if queued.body not in outcomes:
            assert settled == []
            continue
        assert len(settled) == 1, queued.kinds()
        assert [o.name for o in queued.outcomes] == [outcomes[queued.body]]
        state = {"unfinished": "returned", "failed": "dead_lettered"}
        assert settled == [state.get(outcomes[queued.body], "acknowledged")]


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

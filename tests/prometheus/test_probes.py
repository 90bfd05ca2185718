"""/livez and /readyz of a real service, over real HTTP."""

from __future__ import annotations

import re
import signal

import pytest

from tests.support.processes import wait_until

from .support import get, running

pytestmark = pytest.mark.slow


def test_livez_fails_while_a_callback_blocks_the_event_loop() -> None:
    settings = {"PROMETHEUS_LIVENESS_TIMEOUT": 0.3}
    with running(["sleep:0.5", "block:3", "ok"], settings=settings) as (process, port):
        assert get(port, "/livez") == (200, "alive\n")
        process.wait_for("started block:3")
        status, body = get(port, "/livez")
        assert status == 503
        assert "event loop did not answer within 0.3 s" in body
        assert "PROMETHEUS_LIVENESS_TIMEOUT" in body
        process.wait_for("done ok")
        assert get(port, "/livez") == (200, "alive\n")
        process.signal(signal.SIGTERM)
        assert process.finish() == 0


def test_livez_fails_when_messages_wait_and_nothing_progresses() -> None:
    # One worker, stuck (awaiting, so the loop answers) on a long message
    # while the next ones wait in read-ahead.
    settings = {"PROMETHEUS_STALL_TIMEOUT": 0.5}
    with running(["sleep:3", "ok", "ok"], settings=settings) as (process, port):
        process.wait_for("started sleep:3")
        assert get(port, "/livez")[0] == 200  # progress was just made
        wait_until(lambda: get(port, "/livez")[0] == 503, "/livez reports the stall")
        body = get(port, "/livez")[1]
        assert re.match(r"stalled: [12] message\(s\) wait for a worker", body), body
        assert "PROMETHEUS_STALL_TIMEOUT is 0.5 s" in body
        process.wait_for("done ok", count=2)
        assert get(port, "/livez")[0] == 200  # idle with nothing waiting is not a stall
        process.signal(signal.SIGTERM)
        assert process.finish() == 0


def test_readyz_fails_while_draining_after_sigterm() -> None:
    with running(["sleep:2"]) as (process, port):
        process.wait_for("started sleep:2")
        assert get(port, "/readyz") == (200, "ready\n")
        process.signal(signal.SIGTERM)
        wait_until(lambda: get(port, "/readyz")[0] == 503, "/readyz reports the drain")
        status, body = get(port, "/readyz")
        assert (status, body) == (503, "stopping: finishing the messages already read\n")
        assert get(port, "/livez")[0] == 200  # draining is alive
        assert process.returncode is None  # still draining: the listener outlives it
        process.wait_for("done sleep:2")
        assert process.finish() == 0
        with pytest.raises(OSError, match="refused"):
            get(port, "/readyz", timeout=2)  # stopped after teardown

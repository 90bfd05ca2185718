"""Real ``python -m doozer run`` processes sharing a stream: kills, signals, cuts, crashes."""

from __future__ import annotations

import signal
from functools import partial
from pathlib import Path

import pytest

from tests.support.faults import FaultProxy
from tests.support.processes import Process, wait_until, written_lines

from .support import Streams

ROOT = Path(__file__).resolve().parents[2]
GROUP = "redis-service"


def start(
    streams: Streams,
    output: Path,
    workers: int = 4,
    url: str | None = None,
    wait: bool = True,
    **env: str,
) -> Process:
    process = Process(
        ["-m", "doozer", "run", "-v", "-w", str(workers), "tests.redis.service:app"],
        cwd=ROOT,
        env={
            "DOOZER_TEST_REDIS_URL": url or streams.url,
            "DOOZER_TEST_STREAM": streams.inbound,
            "DOOZER_TEST_OUTPUT": str(output),
            **{f"DOOZER_TEST_{key.upper()}": value for key, value in env.items()},
        },
    )
    if wait:
        process.wait_for("consuming", timeout=20)
    return process


def processed(output: Path) -> list[tuple[str, int]]:
    """(body, deliveries) of each entry a process finished, in order."""
    return [(body, int(n)) for body, n in (line.split() for line in written_lines(output))]


def reached(output: Path, count: int) -> bool:
    return len(processed(output)) >= count


def ended(service: Process, streams: Streams) -> bool:
    return service.returncode is not None or bool(streams.entries(streams.dead))


def bodies(output: Path) -> set[str]:
    return {body for body, _ in processed(output)}


@pytest.mark.slow
def test_sigkill_of_one_of_two_consumers_loses_nothing(streams: Streams, tmp_path: Path) -> None:
    total = 10_000
    streams.add([str(n).encode() for n in range(total)])
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    a = start(streams, out_a, claim_idle="1", delay="0.002")
    b = start(streams, out_b, claim_idle="1", delay="0.002")
    try:
        wait_until(lambda: len(processed(out_a)) >= 500, "a to process 500 entries", timeout=30)
        a.kill()  # SIGKILL: its pending entries stay in the group
        left_by_a = streams.client.xpending_range(
            streams.inbound, GROUP, "-", "+", 1000, consumername=f"{_host()}-{a.pid}"
        )
        assert left_by_a, "the killed consumer held no entries: nothing to claim"
        want = {str(n) for n in range(total)}
        wait_until(lambda: bodies(out_a) | bodies(out_b) >= want, "every entry", timeout=120)
        wait_until(lambda: streams.pending(GROUP) == 0, "every acknowledgement", timeout=20)
        b.signal(signal.SIGTERM)
        assert b.finish(timeout=20) == 0
    finally:
        a.kill()
        b.kill()
    claimed = {row["message_id"].decode() for row in left_by_a}
    body_of = {
        entry: fields[b"body"].decode() for entry, fields in streams.entries(streams.inbound)
    }
    # What the killed one held, b claimed and processed (delivered again).
    assert {body_of[entry] for entry in claimed} <= {body for body, n in processed(out_b) if n > 1}
    assert any("Claimed" in line for line in b.stderr)
    assert streams.entries(streams.dead) == []


def _host() -> str:
    import socket

    return socket.gethostname()


@pytest.mark.slow
def test_sigterm_drains_and_hands_back(streams: Streams, tmp_path: Path) -> None:
    total = 60
    streams.add([str(n).encode() for n in range(total)])
    output = tmp_path / "out"
    service = start(streams, output, workers=2, delay="0.2", batch="10")
    try:
        wait_until(lambda: len(processed(output)) >= 2, "two processed entries", timeout=15)
        service.signal(signal.SIGTERM)
        assert service.finish(timeout=20) == 0
    finally:
        service.kill()
    done = [body for body, _ in processed(output)]
    assert len(done) == len(set(done))
    assert len(done) < total
    # Finished ones are acknowledged; whatever it read ahead is handed back
    # (claimable at once, its delivery not counted); the rest was never read.
    pending = streams.client.xpending_range(streams.inbound, GROUP, "-", "+", 1000)
    assert all(row["times_delivered"] == 0 for row in pending)
    assert all(row["message_id"].decode() for row in pending)
    assert any("Stopped" in line for line in service.stderr)
    rest = tmp_path / "rest"
    second = start(streams, rest, workers=4, claim_idle="1")
    try:
        want = {str(n) for n in range(total)}
        wait_until(lambda: set(done) | bodies(rest) == want, "the rest", timeout=30)
    finally:
        second.signal(signal.SIGTERM)
        second.finish(timeout=20)
    assert not set(done) & bodies(rest)  # what was finished is not processed again


def finish_everything(service: Process, streams: Streams, output: Path, total: int) -> None:
    """Wait until entries 0 .. total-1 are all processed and acknowledged; stop with SIGTERM."""
    want = {str(n) for n in range(total)}
    wait_until(lambda: bodies(output) >= want, "every entry", timeout=60)
    wait_until(lambda: streams.pending(GROUP) == 0, "every acknowledgement", timeout=30)
    service.signal(signal.SIGTERM)
    assert service.finish(timeout=20) == 0


@pytest.mark.slow
def test_connection_cut_twice_mid_stream(streams: Streams, tmp_path: Path) -> None:
    total = 3000
    streams.add([str(n).encode() for n in range(total)])
    output = tmp_path / "out"
    with FaultProxy(6379) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        service = start(streams, output, url=url, delay="0.002", claim_idle="2")
        try:
            for cut in (500, 1500):
                wait_until(partial(reached, output, cut), f"{cut} entries", timeout=30)
                proxy.cut()
            finish_everything(service, streams, output, total)
        finally:
            service.kill()
    lost = [line for line in service.stderr if "Lost the connection to Redis" in line]
    back = [line for line in service.stderr if "Reconnected to Redis" in line]
    assert len(lost) >= 2, service.stderr[-20:]
    assert len(back) >= 2, service.stderr[-20:]


@pytest.mark.slow
def test_a_server_that_hangs_mid_stream_is_noticed_and_nothing_is_lost(
    streams: Streams, tmp_path: Path
) -> None:
    total = 2000
    streams.add([str(n).encode() for n in range(total)])
    output = tmp_path / "out"
    with FaultProxy(6379) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        service = start(streams, output, url=url, delay="0.002", claim_idle="2")
        try:
            wait_until(partial(reached, output, 500), "500 entries", timeout=30)
            proxy.freeze()  # connections stay open; nothing comes back
            frozen_at = len(processed(output))
            # Blocking reads time out after REDIS_BLOCK + a margin (10 s at most).
            service.wait_for("Lost the connection to Redis", timeout=30, stream="stderr")
            # Only what was read before: a batch (REDIS_BATCH, 8), the engine's
            # read-ahead (4) and the entries in progress (4).
            assert len(processed(output)) - frozen_at <= 8 + 4 + 4
            proxy.thaw()
            finish_everything(service, streams, output, total)
        finally:
            service.kill()
    assert any("Reconnected to Redis" in line for line in service.stderr), service.stderr[-20:]
    assert streams.entries(streams.dead) == []


@pytest.mark.slow
def test_crash_looping_entry_ends_in_the_dead_letter_stream(
    streams: Streams, tmp_path: Path
) -> None:
    streams.add([b"1", b"poison", b"2"])
    output = tmp_path / "out"
    runs = 0
    while not streams.entries(streams.dead):
        runs += 1
        assert runs <= 7, f"still not dead-lettered after {runs - 1} crashes"
        service = start(
            streams, output, workers=1, wait=False, crash_on="poison", claim_idle="0.2",
            max_deliveries="3",
        )  # fmt: skip
        try:
            wait_until(partial(ended, service, streams), "a crash or the dead letter", timeout=20)
        finally:
            service.kill()
    poison = [n for body, n in processed(output) if body == "poison"]
    assert poison == [1, 2, 3]  # three deliveries, each crashed; the fourth is not processed
    ((_, fields),) = streams.entries(streams.dead)
    assert fields[b"body"] == b"poison"
    assert b"REDIS_MAX_DELIVERIES" in fields[b"x-doozer-error"]
    assert fields[b"x-doozer-error-type"] == b"doozer.redis.TooManyDeliveries"


def test_unreachable_server_is_one_line_with_the_masked_url(
    streams: Streams, tmp_path: Path
) -> None:
    service = start(
        streams, tmp_path / "out", wait=False, url="redis://user:hunter2@127.0.0.1:1/0",
        connect_timeout="0.5",
    )  # fmt: skip
    assert service.finish(timeout=20) == 1
    last = service.stderr[-1]
    assert last.startswith("doozer: error:")
    assert "redis://user:***@127.0.0.1:1/0" in last
    everything = "\n".join(service.stdout + service.stderr)
    assert "hunter2" not in everything
    assert "hand back" not in everything  # nothing was read: nothing to give back

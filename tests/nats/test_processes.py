"""Real ``python -m doozer run`` processes sharing a stream: kills, signals, crashes."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import Process, wait_until, written_lines

from .support import Streams

ROOT = Path(__file__).resolve().parents[2]


def start(
    streams: Streams, output: Path, workers: int = 4, wait: bool = True, **env: str
) -> Process:
    process = Process(
        ["-m", "doozer", "run", "-v", "-w", str(workers), "tests.nats.service:app"],
        cwd=ROOT,
        env={
            "DOOZER_TEST_NATS_URL": streams.url,
            "DOOZER_TEST_STREAM": streams.stream,
            "DOOZER_TEST_OUTPUT": str(output),
            **{f"DOOZER_TEST_{key.upper()}": value for key, value in env.items()},
        },
    )
    if wait:
        process.wait_for("consuming", timeout=20)
    return process


def lines(output: Path, kind: str) -> list[list[str]]:
    return [line.split()[1:] for line in written_lines(output) if line.startswith(kind)]


def done(output: Path) -> set[str]:
    return {fields[0] for fields in lines(output, "done ")}


@pytest.mark.slow
def test_sigkill_of_one_of_two_consumers_loses_nothing(streams: Streams, tmp_path: Path) -> None:
    total = 10_000
    streams.run(streams.publish([str(n).encode() for n in range(total)]))
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    a = start(streams, out_a, ack_wait="2", delay="0.002")
    b = start(streams, out_b, ack_wait="2", delay="0.002")
    try:
        wait_until(lambda: len(done(out_a)) >= 500, "a to process 500 messages", timeout=60)
        a.kill()  # SIGKILL: what it held comes back after ack_wait
        started_by_a = {fields[0] for fields in lines(out_a, "start ")}
        unfinished = started_by_a - done(out_a)
        want = {str(n) for n in range(total)}
        wait_until(lambda: done(out_a) | done(out_b) >= want, "every message", timeout=180)

        async def settled() -> bool:
            info = await streams.consumer()
            return bool(info.num_ack_pending == 0 and info.num_pending == 0)

        wait_until(lambda: streams.run(settled()), "every acknowledgement", timeout=20)
        b.signal(signal.SIGTERM)
        assert b.finish(timeout=30) == 0
    finally:
        a.kill()
        b.kill()
    redelivered = {fields[0] for fields in lines(out_b, "done ") if int(fields[1]) > 1}
    assert unfinished <= done(out_b), "what a was processing when killed was not taken over"
    assert redelivered, "b was redelivered nothing of what a held"


@pytest.mark.slow
def test_sigterm_finishes_started_messages_and_hands_back_the_rest(
    streams: Streams, tmp_path: Path
) -> None:
    total = 40
    streams.run(streams.publish([str(n).encode() for n in range(total)]))
    output = tmp_path / "out"
    service = start(streams, output, workers=4, delay="1")
    try:
        wait_until(lambda: len(lines(output, "start ")) >= 4, "4 messages started")
        service.signal(signal.SIGTERM)
        assert service.finish(timeout=30) == 0
    finally:
        service.kill()
    started = {fields[0] for fields in lines(output, "start ")}
    finished = done(output)
    assert started == finished, "a started message was not finished"
    assert len(finished) < total
    # ack_wait is 30 s: getting every other message within 5 s means the
    # fetched-but-unstarted ones were handed back at once.
    rest = streams.run(streams.fetch_all(total - len(finished), timeout=5))
    assert sorted(rest, key=int) == sorted(
        (str(n).encode() for n in range(total) if str(n) not in finished), key=int
    )
    assert "Handed" in service.output("stderr")


@pytest.mark.slow
def test_a_crash_looping_message_ends_as_a_dead_letter(streams: Streams, tmp_path: Path) -> None:
    streams.run(streams.publish([b"boom"]))
    output = tmp_path / "out"
    for _ in range(3):  # two crashes, then the third delivery is over NATS_MAX_DELIVER
        service = start(streams, output, workers=1, ack_wait="1", max_deliver="2", crash_on="boom")
        try:
            wait_until(_crashed_or_dead(service, streams), "a crash or a dead letter", timeout=30)
            if service.returncode is None:
                streams.run(streams.publish([b"fine"]))
                wait_until(lambda: "fine" in done(output), "the next message is processed")
                service.signal(signal.SIGTERM)
                assert service.finish(timeout=20) == 0
                break
            assert service.returncode == 3, service.output("stderr")
        finally:
            service.kill()
    (dead,) = streams.run(streams.dead_letters())
    assert dead.data == b"boom"
    assert "without finishing" in dead.headers["x-doozer-error"]
    assert dead.headers["x-doozer-deliveries"] == "3"
    assert [fields[0] for fields in lines(output, "start ")].count("boom") == 2


def _crashed_or_dead(service: Process, streams: Streams) -> Callable[[], bool]:
    return lambda: service.returncode is not None or bool(streams.run(streams.dead_letters()))

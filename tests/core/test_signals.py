"""SIGINT/SIGTERM against a real application process."""

from __future__ import annotations

import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.processes import Process

APP = textwrap.dedent(
    """
    import asyncio
    import logging
    import sys

    from doozer import Application

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    mode = sys.argv[1]
    num_workers = int(sys.argv[2])
    settings = {"SHUTDOWN_TIMEOUT": float(sys.argv[3]) if len(sys.argv) > 3 else 30}


    class Counter:
        def __init__(self):
            self.count = 0

        async def read(self):
            if mode == "blocked-read" and self.count == 2:
                print("blocked in read", flush=True)
                await asyncio.Event().wait()
            self.count += 1
            print("read", self.count, flush=True)
            return self.count


    async def callback(app, message):
        print("start", message, flush=True)
        if mode == "hang":
            await asyncio.Event().wait()
        await asyncio.sleep(0.05)


    app = Application("signals", settings, consumer=Counter(), callback=callback)


    @app.startup
    async def startup(app):
        print("startup begin", flush=True)
        if mode == "slow-startup":
            await asyncio.sleep(1)
        print("startup end", flush=True)


    @app.message_acknowledgement
    async def acknowledge(app, message):
        print("ack", message, flush=True)


    @app.teardown
    async def teardown(app):
        print("teardown", flush=True)


    app.run_forever(num_workers=num_workers)
    print("returned", flush=True)
    """
)


@pytest.fixture
def run_app(tmp_path: Path) -> Iterator[object]:
    (tmp_path / "signals_app.py").write_text(APP)
    started: list[Process] = []

    def start(*args: str) -> Process:
        process = Process(["signals_app.py", *args], cwd=tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def numbers(lines: list[str], prefix: str) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith(prefix + " ")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_drains_messages_already_read(run_app, signum: int) -> None:  # type: ignore[no-untyped-def]
    app = run_app("normal", "20")
    app.wait_for("start", count=60)
    app.signal(signum)
    assert app.finish() == 0
    read = numbers(app.stdout, "read")
    acknowledged = numbers(app.stdout, "ack")
    assert len(read) >= 60
    assert sorted(acknowledged) == sorted(read)
    assert app.stdout[-2:] == ["teardown", "returned"]
    assert any(f"Received {signal.Signals(signum).name}" in line for line in app.stderr)


def test_second_signal_cancels_in_flight_messages(run_app) -> None:  # type: ignore[no-untyped-def]
    app = run_app("hang", "3")
    app.wait_for("start", count=3)
    app.signal(signal.SIGTERM)
    app.wait_for("Received SIGTERM")
    app.signal(signal.SIGTERM)
    assert app.finish() == 0
    assert numbers(app.stdout, "ack") == []
    assert sum("Cancelled while processing message" in line for line in app.stderr) == 3
    assert "teardown" in app.stdout
    assert "returned" in app.stdout


def test_shutdown_timeout_cancels_hung_messages(run_app) -> None:  # type: ignore[no-untyped-def]
    app = run_app("hang", "2", "0.3")
    app.wait_for("start", count=2)
    app.signal(signal.SIGTERM)
    assert app.finish() != 0
    errors = "\n".join(app.stderr)
    assert "Still stopping after SHUTDOWN_TIMEOUT (0.3 s): cancelling what is running" in errors
    assert errors.count("Cancelled while processing message") == 2
    assert "TimeoutError: shutdown took longer than SHUTDOWN_TIMEOUT" in errors
    assert "teardown" in app.stdout
    assert "returned" not in app.stdout


def test_consumer_blocked_in_read_is_cancelled(run_app) -> None:  # type: ignore[no-untyped-def]
    app = run_app("blocked-read", "4")
    app.wait_for("blocked in read")
    app.signal(signal.SIGTERM)
    assert app.finish(timeout=5) == 0
    assert numbers(app.stdout, "ack") == [1, 2]
    assert app.stdout[-2:] == ["teardown", "returned"]


def test_signal_during_startup_skips_consumption(run_app) -> None:  # type: ignore[no-untyped-def]
    app = run_app("slow-startup", "2")
    app.wait_for("startup begin")
    app.signal(signal.SIGTERM)
    assert app.finish() == 0
    assert app.stdout == ["startup begin", "startup end", "teardown", "returned"]

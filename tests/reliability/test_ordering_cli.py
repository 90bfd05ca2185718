"""``doozer run --ordering-key``: real processes, in one process and in supervised children."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from tests.support.processes import doozer

# 60 messages over 3 keys, then idle until signalled; each callback yields a
# few times, so without ordering equal keys would overlap. Prints overlaps,
# "consumed" once all 60 are done, and each key's order at teardown.
SERVICE = """
    import asyncio
    import os
    from collections import Counter, defaultdict

    from doozer import Application


    class Numbers:
        def __init__(self):
            self.next = 0

        async def read(self):
            if self.next == 60:
                await asyncio.Event().wait()
            self.next += 1
            return (self.next % 3, self.next)


    def say(line):
        os.write(1, (line + "\\n").encode())  # one write: children share the pipe


    active = Counter()
    order = defaultdict(list)


    async def callback(app, message):
        key, number = message
        active[key] += 1
        if active[key] > 1:
            say(f"overlap {key}")
        for _ in range(5):
            await asyncio.sleep(0)
        order[key].append(number)
        active[key] -= 1
        if sum(map(len, order.values())) == 60:
            say(f"consumed {os.getpid()}")


    def key_of(message):
        return message[0]


    app = Application("numbers", consumer=Numbers(), callback=callback)


    @app.teardown
    async def report(app):
        for key in sorted(order):
            ok = order[key] == sorted(order[key]) and len(order[key]) == 20
            say(f"key {key} " + ("in order" if ok else f"OUT OF ORDER {order[key]}"))
"""


def write_service(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(textwrap.dedent(SERVICE))


@pytest.mark.parametrize("extra", [[], ["--processes", "2"]])
def test_ordering_key_option_orders_the_application(tmp_path: Path, extra: list[str]) -> None:
    write_service(tmp_path)
    process = doozer(
        "run", "service:app", "-w", "6", "--ordering-key", "service:key_of", *extra, cwd=tmp_path
    )
    try:
        process.wait_for_match(r"^consumed \d+", "stdout", count=2 if extra else 1)
        process.signal(signal.SIGTERM)
        status = process.finish()
    finally:
        process.kill()
    assert status == 0, process.output("stderr")
    assert not [line for line in process.stdout if line.startswith("overlap")]
    reports = sorted(line for line in process.stdout if line.startswith("key"))
    processes = 2 if extra else 1
    assert reports == sorted([f"key {key} in order" for key in range(3)] * processes)


def test_without_the_option_equal_keys_overlap(tmp_path: Path) -> None:
    # The control experiment: the service above does show disorder without it.
    write_service(tmp_path)
    process = doozer("run", "service:app", "-w", "6", cwd=tmp_path)
    try:
        process.wait_for_match(r"^consumed \d+", "stdout")
        process.signal(signal.SIGTERM)
        assert process.finish() == 0, process.output("stderr")
    finally:
        process.kill()
    assert any(line.startswith("overlap") for line in process.stdout)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("service", "write MODULE:FUNCTION, e.g. 'service:account_of'"),
        ("nowhere:key", "no module named 'nowhere'"),
        ("service:missing", "module 'service' has no 'missing'"),
        ("service:app", "must name a plain function (not async)"),
        ("service:callback", "must name a plain function (not async)"),
    ],
)
def test_a_bad_ordering_key_is_one_clear_line(tmp_path: Path, value: str, error: str) -> None:
    write_service(tmp_path)
    process = doozer("run", "service:app", "--ordering-key", value, cwd=tmp_path)
    assert process.finish() == 2
    stderr = process.output("stderr").strip().splitlines()
    assert len(stderr) == 1
    assert stderr[0].startswith(f"doozer: error: --ordering-key {value!r}")
    assert error in stderr[0]
    assert "Traceback" not in process.output("stderr")

"""``doozer run --ordering-key``: real processes, in one process and in supervised children."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.processes import doozer

# 60 messages over 3 keys, 6 workers; each callback yields a few times, so
# without ordering equal keys would overlap. Prints an overlap, the per-key
# order, and the pid.
SERVICE = """
    import asyncio
    import os
    from collections import Counter, defaultdict

    from doozer import Abort, Application


    class Numbers:
        def __init__(self):
            self.next = 0

        async def read(self):
            if self.next == 60:
                raise Abort("done", None)
            self.next += 1
            return (self.next % 3, self.next)


    active = Counter()
    order = defaultdict(list)


    async def callback(app, message):
        key, number = message
        active[key] += 1
        if active[key] > 1:
            print("overlap", key, flush=True)
        for _ in range(5):
            await asyncio.sleep(0)
        order[key].append(number)
        active[key] -= 1


    def key_of(message):
        return message[0]


    app = Application("numbers", consumer=Numbers(), callback=callback)


    @app.teardown
    async def report(app):
        for key in sorted(order):
            ok = order[key] == sorted(order[key]) and len(order[key]) == 20
            print("key", key, "in order" if ok else f"OUT OF ORDER {order[key]}", flush=True)
        print("done", os.getpid(), flush=True)
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
        if extra:  # children restart when the consumer ends: wait for two reports
            process.wait_for_match(r"^done \d+", "stdout", count=2)
            process.signal(15)
        status = process.finish()
    finally:
        process.kill()
    assert status == 0, process.output("stderr")
    assert not [line for line in process.stdout if line.startswith("overlap")]
    assert [line for line in process.stdout if line.startswith("key")][:3] == [
        "key 0 in order", "key 1 in order", "key 2 in order"
    ]  # fmt: skip


def test_without_the_option_equal_keys_overlap(tmp_path: Path) -> None:
    # The control experiment: the service above does show disorder without it.
    write_service(tmp_path)
    process = doozer("run", "service:app", "-w", "6", cwd=tmp_path)
    assert process.finish() == 0, process.output("stderr")
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

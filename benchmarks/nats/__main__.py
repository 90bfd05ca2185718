"""Consume and acknowledge N small messages: raw nats-py, Doozer, FastStream; side by side.

``python -m benchmarks.nats [--messages 50000] [--rounds 3] [--output PATH]``
against the NATS server at ``NATS_URL`` (``nats://127.0.0.1:4222``). Each run
gets its own stream, filled before the clock starts and deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats

URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
WORKERS = 16


async def fill(stream: str, total: int) -> None:
    client = await nats.connect(URL)
    js = client.jetstream()
    await js.add_stream(name=stream, subjects=[f"{stream}.in"])
    for _ in range(0, total, 1000):
        acks = [await js.publish_async(f"{stream}.in", b"x" * 16) for _ in range(1000)]
        await asyncio.gather(*acks)
    await client.close()


async def drop(stream: str) -> None:
    client = await nats.connect(URL)
    for name in (stream, f"{stream}_dead"):
        with contextlib.suppress(Exception):
            await client.jetstream().delete_stream(name)
    await client.close()


async def raw(stream: str, total: int) -> float:
    """The reference: pull batches of 256, acknowledge each without waiting."""
    client = await nats.connect(URL)
    js = client.jetstream()
    subscription = await js.pull_subscribe(f"{stream}.in", durable="raw", stream=stream)
    seen = 0
    began = time.perf_counter()
    while seen < total:
        for msg in await subscription.fetch(256, timeout=5):
            await msg.ack()
            seen += 1
    await client.flush()
    elapsed = time.perf_counter() - began
    await client.close()
    return elapsed


async def doozer(stream: str, total: int) -> float:
    from doozer import Application
    from doozer.nats import JetStream

    done = asyncio.Event()
    seen = 0

    async def count(app: Application, message: object) -> None:
        nonlocal seen
        seen += 1
        if seen >= total:
            done.set()

    app = Application(
        "bench",
        {
            "NATS_URL": URL,
            "NATS_STREAM": stream,
            "NATS_INBOUND_SUBJECT": f"{stream}.in",
            "NATS_DURABLE": "doozer",
            "NATS_BATCH": 256,
        },
        callback=count,
    )
    app.consumer = JetStream(app).consumer()
    serving = asyncio.get_running_loop().create_task(app.serve(WORKERS))
    while not app.consuming:  # noqa: ASYNC110 - no event tells when startup ends
        await asyncio.sleep(0.001)
    began = time.perf_counter()
    await done.wait()
    elapsed = time.perf_counter() - began
    app.stop()
    await serving
    return elapsed


async def faststream(stream: str, total: int) -> float:
    from faststream.nats import JStream, NatsBroker, PullSub  # type: ignore[import-not-found,unused-ignore]

    # No per-message log lines: Doozer writes none either.
    broker = NatsBroker(URL, logger=None)
    done = asyncio.Event()
    seen = 0

    @broker.subscriber(  # type: ignore[untyped-decorator,unused-ignore]
        f"{stream}.in",
        stream=JStream(stream, declare=False),
        durable="faststream",
        pull_sub=PullSub(batch_size=256),
    )
    async def count(body: bytes) -> None:
        nonlocal seen
        seen += 1
        if seen >= total:
            done.set()

    await broker.start()
    began = time.perf_counter()
    await done.wait()
    elapsed = time.perf_counter() - began
    await broker.stop()
    return elapsed


async def measure(name: str, run: Callable[[str, int], Awaitable[float]], total: int) -> float:
    stream = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    await fill(stream, total)
    try:
        return total / await run(stream, total)
    finally:
        await drop(stream)


async def main(total: int, rounds: int, output: Path) -> None:
    contenders: dict[str, Callable[[str, int], Awaitable[float]]] = {
        "raw nats-py": raw,
        "Doozer": doozer,
        "FastStream": faststream,
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    missing: dict[str, str] = {}
    for _ in range(rounds):  # interleaved, so drift hits everyone alike
        for name, run in contenders.items():
            if name in missing:
                continue
            try:
                rates[name].append(await measure(name.split()[0].lower(), run, total))
            except ImportError as exc:
                missing[name] = str(exc)
    reference = statistics.median(rates["raw nats-py"])
    lines = [
        "# NATS JetStream: consume and acknowledge small messages",
        "",
        f"{total} messages of 16 bytes, {rounds} interleaved round(s), median rate; "
        f"Doozer with {WORKERS} workers. `python -m benchmarks.nats`.",
        "",
        "| implementation | messages/s | x raw nats-py |",
        "| --- | ---: | ---: |",
    ]
    for name in contenders:
        if name in missing:
            lines.append(f"| {name} | not installed ({missing[name]}) | |")
            continue
        rate = statistics.median(rates[name])
        lines.append(f"| {name} | {rate:,.0f} | {rate / reference:.2f} |")
    if "FastStream" not in missing and rates["FastStream"]:
        ratio = statistics.median(rates["Doozer"]) / statistics.median(rates["FastStream"])
        lines += ["", f"Doozer / FastStream: {ratio:.2f} (target ≥ 2)."]
    lines += ["", "Targets: Doozer ≥ 0.9 x raw nats-py, ≥ 2 x FastStream.", ""]
    output.write_text("\n".join(lines))  # noqa: ASYNC240 - once, after measuring
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nats")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/nats.md"))
    arguments = parser.parse_args()
    asyncio.run(main(arguments.messages, arguments.rounds, arguments.output))

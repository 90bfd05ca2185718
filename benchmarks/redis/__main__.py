"""Consume and acknowledge N small entries: Doozer vs raw redis-py loops vs FastStream.

``python -m benchmarks.redis [--entries 50000] [--workers 8]`` on the local
Redis; each contender gets its own freshly filled stream, one after the
other in the same run; the table goes to benchmarks/results/redis.md.
Ratios, not absolute times, are the result (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

URL = "redis://127.0.0.1:6379/0"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "redis.md"


def fill(stream: str, entries: int) -> None:
    client = redis.Redis.from_url(URL)
    for start in range(0, entries, 5000):
        pipe = client.pipeline(transaction=False)
        for n in range(start, min(start + 5000, entries)):
            pipe.xadd(stream, {"body": str(n)})
        pipe.execute()
    client.xgroup_create(stream, "bench", "0")
    client.close()


async def raw(stream: str, entries: int, batch: int, batched_ack: bool) -> None:
    client = aioredis.Redis.from_url(URL)
    done = 0
    while done < entries:
        reply: Any = await client.xreadgroup("bench", "raw", {stream: ">"}, count=batch, block=1000)
        ids = [entry_id for _, rows in reply for entry_id, _ in rows]
        if batched_ack:
            await client.xack(stream, "bench", *ids)
        else:
            for entry_id in ids:
                await client.xack(stream, "bench", entry_id)
        done += len(ids)
    await client.aclose()


async def doozer(stream: str, entries: int, workers: int) -> None:
    from doozer import Application
    from doozer.redis import RedisStreams

    count = 0

    async def callback(app: Application, message: object) -> None:
        nonlocal count
        count += 1
        if count == entries:
            app.stop()

    app = Application(
        "bench", {"REDIS_URL": URL, "REDIS_INBOUND_STREAM": stream, "REDIS_GROUP": "bench"},
        callback=callback,
    )  # fmt: skip
    app.consumer = RedisStreams(app).consumer()
    await app.serve(workers)


async def faststream(stream: str, entries: int) -> None:
    from faststream.redis import RedisBroker, StreamSub  # type: ignore[import-not-found, unused-ignore]

    # No per-message log lines: Doozer writes none either.
    broker = RedisBroker(URL, logger=None)
    done = asyncio.Event()
    count = 0

    @broker.subscriber(stream=StreamSub(stream, group="bench", consumer="fs", batch=False))  # type: ignore[untyped-decorator, unused-ignore]
    async def handle(body: dict[str, Any]) -> None:  # the entry's fields, decoded
        nonlocal count
        count += 1
        if count == entries:
            done.set()

    await broker.start()
    await done.wait()
    await broker.stop()


def measure(entries: int, run: Callable[[str], Coroutine[Any, Any, None]]) -> float:
    stream = f"bench-{uuid.uuid4().hex[:8]}"
    fill(stream, entries)
    try:
        started = time.perf_counter()
        asyncio.run(run(stream))
        return entries / (time.perf_counter() - started)
    finally:
        client = redis.Redis.from_url(URL)
        client.delete(stream, f"{stream}.dead", f"{stream}.retry")
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    n, w = args.entries, args.workers
    rates = {
        "raw XREADGROUP + XACK each (reference)": measure(n, lambda s: raw(s, n, 2 * w, False)),
        "raw XREADGROUP + batched XACK (fastest raw)": measure(n, lambda s: raw(s, n, 2 * w, True)),
        f"Doozer, {w} workers": measure(n, lambda s: doozer(s, n, w)),
    }
    if importlib.util.find_spec("faststream") is not None:
        rates["FastStream stream subscriber"] = measure(n, lambda s: faststream(s, n))
    reference = rates["raw XREADGROUP + XACK each (reference)"]
    lines = [
        f"# Redis Streams: consume and acknowledge {n:,} entries",
        "",
        "| implementation | entries/s | x reference |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {rate:,.0f} | {rate / reference:.2f} |" for name, rate in rates.items()]
    doozer_rate = rates[f"Doozer, {w} workers"]
    lines += ["", f"Target: Doozer ≥ 0.9 x reference: {doozer_rate / reference:.2f}."]
    if "FastStream stream subscriber" in rates:
        ratio = doozer_rate / rates["FastStream stream subscriber"]
        lines.append(f"Target: Doozer ≥ 2 x FastStream: {ratio:.2f}.")
    else:
        lines.append("FastStream was not installed: add faststream[redis] to the bench env.")
    text = "\n".join(lines) + "\n"
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

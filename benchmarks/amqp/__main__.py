"""Run the AMQP benchmark: ``python -m benchmarks.amqp [--messages N] [--repetitions R]``.

Each run fills a fresh queue with small messages, starts the consumer
processes, lets them go at once, waits until the queue is empty, stops them
with SIGTERM and reads what each handled and when. Throughput is messages
over the time from the first message handled (by any process) to the last.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika

ROOT = Path(__file__).resolve().parents[2]

#: The raw aio-pika loops: acknowledging each message (the reference), and
#: acknowledging with multiple=True every 32 messages.
RAW_ACK_EVERY = {"raw": 1, "raw-batch32": 32}
URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def fill(queue: str, messages: int, dead_letter: bool) -> None:
    connection = await aio_pika.connect(URL)
    try:
        channel = await connection.channel()
        if dead_letter:  # as doozer-amqp declares it
            await channel.declare_queue(f"{queue}.dead", durable=True)
            arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{queue}.dead"}
            await channel.declare_queue(queue, durable=True, arguments=arguments)
        else:
            await channel.declare_queue(queue, durable=True)
        body = b"x" * 16
        for start in range(0, messages, 2000):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue)
                    for _ in range(min(2000, messages - start))
                )
            )
    finally:
        await connection.close()


async def ready_count(queue: str) -> int:
    connection = await aio_pika.connect(URL)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await connection.close()


async def delete(*queues: str) -> None:
    connection = await aio_pika.connect(URL)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
    finally:
        await connection.close()


def run(implementation: str, processes: int, messages: int, prefetch: int) -> float:
    """One run; returns messages per second."""
    queue = f"bench-amqp-{uuid.uuid4().hex[:10]}"
    asyncio.run(fill(queue, messages, dead_letter=implementation == "doozer"))
    with tempfile.TemporaryDirectory() as tmp:
        results = [Path(tmp) / f"result{n}" for n in range(processes)]
        extra: dict[str, str] = {}
        if implementation == "doozer":
            workers = str(max(1, prefetch // 2))
            command = ["-m", "doozer", "run", "-q", "-w", workers, "benchmarks.amqp.doozer_app"]
        elif implementation in RAW_ACK_EVERY:
            command = ["-m", "benchmarks.amqp.raw_app"]
            extra["BENCH_ACK_EVERY"] = str(RAW_ACK_EVERY[implementation])
        else:
            command = ["-m", "benchmarks.amqp.faststream_app"]
        children = [
            subprocess.Popen(
                [sys.executable, *command],
                cwd=ROOT,
                env={
                    **os.environ,
                    "BENCH_AMQP_URL": URL,
                    "BENCH_QUEUE": queue,
                    "BENCH_PREFETCH": str(prefetch),
                    "BENCH_RESULT": str(result),
                    **extra,
                },
                stdout=subprocess.PIPE,
                text=True,
            )
            for result in results
        ]
        try:
            for child in children:
                assert child.stdout is not None
                if child.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"{implementation} consumer failed to start")
            for child in children:
                child.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 300
            while asyncio.run(ready_count(queue)) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)  # the last prefetched messages
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                child.wait(60)
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
        tallies = [result.read_text().split() for result in results]
    asyncio.run(delete(queue, f"{queue}.dead") if implementation == "doozer" else delete(queue))
    count = sum(int(t[0]) for t in tallies)
    if count != messages:
        raise RuntimeError(f"{implementation}: {count} messages handled, expected {messages}")
    first = min(float(t[1]) for t in tallies if int(t[0]))
    last = max(float(t[2]) for t in tallies if int(t[0]))
    return messages / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.amqp", description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--implementations",
        nargs="+",
        default=["doozer", "raw", "raw-batch32", "faststream"],
        metavar="NAME",
        help="from doozer, raw, raw-batch32, faststream",
    )
    parser.add_argument(
        "--two-processes", action="store_true", help="also run two Doozer processes"
    )
    args = parser.parse_args()
    plans = [(name, 1) for name in args.implementations]
    if args.two_processes and "doozer" in args.implementations:
        plans.append(("doozer", 2))
    rates: dict[tuple[str, int], list[float]] = {plan: [] for plan in plans}
    for _ in range(args.repetitions):  # interleaved, so a slow moment hits all alike
        for name, processes in plans:
            rates[name, processes].append(run(name, processes, args.messages, args.prefetch))
    medians = {plan: statistics.median(values) for plan, values in rates.items()}
    print(
        f"{args.messages:,} messages of 16 bytes, prefetch {args.prefetch} per process, "
        f"median of {args.repetitions}"
    )
    print()
    print("| implementation | processes | messages/s | runs (messages/s) |")
    print("|---|---|---|---|")
    for (name, processes), rate in medians.items():
        runs = ", ".join(f"{value:,.0f}" for value in rates[name, processes])
        print(f"| {LABELS.get(name, name)} | {processes} | {rate:,.0f} | {runs} |")
    doozer = medians.get(("doozer", 1))
    if doozer is None:
        return
    print()
    print("| ratio | value | target |")
    print("|---|---|---|")
    for name, target in (("raw", 1.3), ("raw-batch32", None), ("faststream", 2.0)):
        if (name, 1) in medians:
            goal = f">= {target:.1f}x" if target else ""
            print(f"| Doozer / {LABELS[name]} | {doozer / medians[name, 1]:.2f}x | {goal} |")
    if ("doozer", 2) in medians:
        print(f"| Doozer 2 processes / 1 | {medians['doozer', 2] / doozer:.2f}x | |")


LABELS = {
    "doozer": "Doozer (doozer-amqp)",
    "raw": "raw aio-pika, ack each",
    "raw-batch32": "raw aio-pika, ack multiple every 32",
    "faststream": "FastStream",
}


if __name__ == "__main__":
    main()

"""1 vs 2 processes on RabbitMQ: ``doozer run --processes`` against raw aio-pika.

``python -m benchmarks.processes [--messages N] [--repetitions R]``

How much faster does a service get with a second process? On a shared
machine the answer depends on the cores left to the broker, so the
reference is measured side by side: the speed-up of two raw aio-pika
consumers over one, on the same queue, with the same prefetch. Doozer's
speed-up comes from ``doozer run --processes 2`` (one supervisor, two
children) over ``doozer run`` (one process). The ratio of the two speed-ups
is the figure of merit (target: at least 0.95).

Two raw loops are measured: one acknowledges each message, the other
acknowledges 32 at once (``multiple=True``), as doozer-amqp batches its
acknowledgements; the second is the like-for-like reference.

Each run fills a fresh queue with small messages, starts the consumers,
waits until every process is connected, lets them go at once (SIGUSR1),
waits until the queue is empty, stops them with SIGTERM and reads what each
process handled and when. Throughput is messages over the time from the
first message handled (by any process) to the last. Runs are interleaved,
so a slow moment hits every plan alike; the table shows medians. The table
is printed and written to ``benchmarks/results/processes.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.amqp.__main__ import delete, fill, ready_count
from benchmarks.amqp.common import PREFETCH, QUEUE, URL, Tally

if TYPE_CHECKING:
    import aio_pika.abc

    from doozer import Application

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "processes.md"
#: Where each consumer process writes ``count first last`` (a file per pid).
RESULT_DIR = os.environ.get("BENCH_RESULT_DIR", "")
TARGET = 0.95
#: The raw references: acknowledging each message, or 32 at once.
RAW_ACK_EVERY = {"raw": 1, "raw-batched": 32}
NAMES = {
    "raw": "raw aio-pika, ack each",
    "raw-batched": "raw aio-pika, ack 32 at once",
    "doozer": "doozer run --processes",
}


# -- the consumers (each in its own process) ----------------------------------------


def _write(tally: Tally) -> None:
    Path(RESULT_DIR, str(os.getpid())).write_text(f"{tally.count} {tally.first!r} {tally.last!r}\n")


async def _ready_then_wait() -> None:
    """Say ``ready PID`` and wait for SIGUSR1 (a start barrier, outside the timed part)."""
    go = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, go.set)
    sys.stdout.write(f"ready {os.getpid()}\n")  # one write: children share the pipe
    sys.stdout.flush()
    await go.wait()
    loop.remove_signal_handler(signal.SIGUSR1)


def service() -> Application:
    """The Doozer service: ``doozer run benchmarks.processes:service``.

    doozer-amqp's consumer and a callback that only counts, as in
    ``benchmarks.amqp.doozer_app``.
    """
    from doozer import Application
    from doozer.amqp import AMQP

    tally = Tally()

    async def handle(app: Application, message: object) -> None:
        tally.add()

    app = Application(
        "bench-processes",
        {"AMQP_URL": URL, "AMQP_INBOUND_QUEUE": QUEUE, "AMQP_PREFETCH_COUNT": PREFETCH},
        callback=handle,
    )
    app.consumer = AMQP(app).consumer()

    @app.startup
    async def ready(app: Application) -> None:
        await _ready_then_wait()

    @app.teardown
    async def report(app: Application) -> None:
        _write(tally)

    return app


def raw_consumer() -> None:
    """The reference: an aio-pika loop that counts and acknowledges messages.

    ``BENCH_ACK_EVERY=1`` acknowledges each message; ``BENCH_ACK_EVERY=32``
    acknowledges with ``multiple=True`` every 32 messages (and what is left
    at the end).
    """
    import aio_pika

    ack_every = int(os.environ.get("BENCH_ACK_EVERY", "1"))
    tally = Tally()

    async def consume(queue: aio_pika.abc.AbstractQueue) -> None:
        last: aio_pika.abc.AbstractIncomingMessage | None = None
        unacknowledged = 0
        try:
            async with queue.iterator() as messages:
                async for message in messages:
                    tally.add()
                    last, unacknowledged = message, unacknowledged + 1
                    if unacknowledged >= ack_every:
                        await message.ack(multiple=ack_every > 1)
                        last, unacknowledged = None, 0
        finally:
            if last is not None:
                with contextlib.suppress(Exception):
                    await last.ack(multiple=True)

    async def consume_until_stopped() -> None:
        connection = await aio_pika.connect(URL)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(QUEUE, passive=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await _ready_then_wait()
        task = asyncio.create_task(consume(queue))
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await connection.close()
        _write(tally)

    try:
        import uvloop
    except ImportError:
        asyncio.run(consume_until_stopped())
    else:
        uvloop.run(consume_until_stopped())


# -- the harness ----------------------------------------------------------------------


def commands(plan: str, processes: int, workers: int) -> list[list[str]]:
    """The commands to start for *plan*: one per raw process, or one ``doozer run``."""
    if plan in RAW_ACK_EVERY:
        raw = [
            sys.executable,
            "-c",
            "from benchmarks.processes import raw_consumer; raw_consumer()",
        ]
        return [raw] * processes
    doozer = [sys.executable, "-m", "doozer", "run", "-q", "-w", str(workers)]
    if processes > 1:
        doozer += ["--processes", str(processes)]
    return [[*doozer, "benchmarks.processes:service"]]


def run(plan: str, processes: int, messages: int, prefetch: int) -> float:
    """One run; returns messages per second."""
    queue = f"bench-processes-{uuid.uuid4().hex[:10]}"
    # Declared as doozer-amqp declares it (with its dead-letter queue), for every plan.
    asyncio.run(fill(queue, messages, dead_letter=True))
    with tempfile.TemporaryDirectory() as results:
        env = {
            **os.environ,
            "BENCH_AMQP_URL": URL,
            "BENCH_QUEUE": queue,
            "BENCH_PREFETCH": str(prefetch),
            "BENCH_RESULT_DIR": results,
            "BENCH_ACK_EVERY": str(RAW_ACK_EVERY.get(plan, 1)),
        }
        started = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            for command in commands(plan, processes, max(1, prefetch // 2))
        ]
        try:
            pids: list[int] = []
            for process in started:
                assert process.stdout is not None
                for _ in range(processes if len(started) == 1 else 1):
                    word, _, number = process.stdout.readline().strip().partition(" ")
                    if word != "ready":
                        raise RuntimeError(f"{plan}: a consumer failed to start")
                    pids.append(int(number))
            for pid in pids:
                os.kill(pid, signal.SIGUSR1)
            deadline = time.monotonic() + 300
            while asyncio.run(ready_count(queue)) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)  # the last prefetched messages
            for process in started:
                process.send_signal(signal.SIGTERM)
            for process in started:
                if process.wait(60):
                    raise RuntimeError(f"{plan}: exit status {process.returncode}")
        finally:
            for process in started:
                if process.poll() is None:
                    process.kill()
        tallies = [path.read_text().split() for path in Path(results).iterdir()]
    asyncio.run(delete(queue, f"{queue}.dead"))
    if len(tallies) != processes:
        raise RuntimeError(f"{plan}: {len(tallies)} results from {processes} processes")
    count = sum(int(t[0]) for t in tallies)
    if count != messages:
        raise RuntimeError(f"{plan}: {count} messages handled, expected {messages}")
    first = min(float(t[1]) for t in tallies if int(t[0]))
    last = max(float(t[2]) for t in tallies if int(t[0]))
    return messages / (last - first)


def table(medians: dict[tuple[str, int], float], rates: dict[tuple[str, int], list[float]]) -> str:
    """The results as a markdown table, and the ratios of the speed-ups."""
    rows = [
        "| implementation | processes | messages/s | speed-up | runs (messages/s) |",
        "|---|---|---|---|---|",
    ]
    for plan, processes in medians:
        speedup = medians[plan, processes] / medians[plan, 1]
        runs = ", ".join(f"{rate:,.0f}" for rate in rates[plan, processes])
        rows.append(
            f"| {NAMES[plan]} | {processes} | {medians[plan, processes]:,.0f} | "
            f"{speedup:.2f}x | {runs} |"
        )
    rows.append("")
    doozer_speedup = medians["doozer", 2] / medians["doozer", 1]
    for reference in RAW_ACK_EVERY:
        if (reference, 2) not in medians:
            continue
        raw_speedup = medians[reference, 2] / medians[reference, 1]
        ratio = doozer_speedup / raw_speedup
        # Each round runs every plan back to back: its own ratio compares runs
        # made under the same load, which the medians of all runs do not.
        by_round = statistics.median(
            (d2 / d1) / (r2 / r1)
            for d1, d2, r1, r2 in zip(
                rates["doozer", 1],
                rates["doozer", 2],
                rates[reference, 1],
                rates[reference, 2],
                strict=True,
            )
        )
        verdict = "meets" if ratio >= TARGET else "misses"
        rows.append(
            f"- Doozer's speed-up / that of {NAMES[reference]}: **{ratio:.3f}** "
            f"({doozer_speedup:.2f}x / {raw_speedup:.2f}x; {verdict} the target, {TARGET}); "
            f"median of the rounds' own ratios: {by_round:.3f}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.processes", description=__doc__)
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--references",
        nargs="+",
        choices=list(RAW_ACK_EVERY),
        default=list(RAW_ACK_EVERY),
        help="the raw aio-pika loops measured as references (default: both)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"default: {RESULTS.relative_to(ROOT)}"
    )
    args = parser.parse_args()
    plans = [(plan, n) for plan in args.references for n in (1, 2)]
    plans += [("doozer", 1), ("doozer", 2)]
    rates: dict[tuple[str, int], list[float]] = {plan: [] for plan in plans}
    for _ in range(args.repetitions):  # interleaved, so a slow moment hits all alike
        for plan, processes in plans:
            rates[plan, processes].append(run(plan, processes, args.messages, args.prefetch))
    medians = {plan: statistics.median(values) for plan, values in rates.items()}
    report = (
        f"{args.messages:,} messages of 16 bytes on one queue, prefetch {args.prefetch} per "
        f"process, Doozer with {max(1, args.prefetch // 2)} workers per process, "
        f"median of {args.repetitions}; {os.cpu_count()} CPUs shared with RabbitMQ\n\n"
        + table(medians, rates)
        + "\n"
    )
    print(report, end="")
    args.output.write_text(report)


if __name__ == "__main__":
    main()

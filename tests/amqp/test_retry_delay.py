"""Retries wait in the broker: per-delay queues, on time, and safe from a crash."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from doozer import Application
from doozer.amqp import AMQP, Message
from doozer.outcomes import RetryLater
from tests.support.processes import wait_until

from .support import Broker, run_app, stop_soon, unacknowledged
from .test_processes import processed, start


def delay_args(inbound: str, ms: int) -> dict[str, Any]:
    return {
        "x-message-ttl": ms,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": inbound,
        "x-expires": ms + 120_000,
    }


def test_delays_hold_and_a_short_one_is_not_stuck_behind_a_long_one(broker: Broker) -> None:
    inbound = broker.name()
    delays = {b"long": 2.0, b"short": 0.4, b"medium": 1.0}
    broker.declare_inbound(inbound)
    broker.queues.update(broker.name(f".delay.{round(d * 1000)}") for d in delays.values())
    broker.publish(inbound, list(delays))  # the long one first
    failed_at: dict[bytes, float] = {}
    back_at: dict[bytes, float] = {}
    attempts: dict[bytes, list[int]] = {}

    async def process(app: Application, message: Message) -> None:
        attempts.setdefault(message.body, []).append(message.attempt)
        if message.attempt == 1:
            failed_at[message.body] = time.monotonic()
            raise RuntimeError("first attempt")
        back_at[message.body] = time.monotonic()
        if len(back_at) == len(delays):
            stop_soon(app)

    app = Application(
        broker.name("-app"),
        {"AMQP_URL": broker.url, "AMQP_INBOUND_QUEUE": inbound, "AMQP_PREFETCH_COUNT": 8},
        callback=process,
    )
    amqp = AMQP(app)
    app.consumer = amqp.consumer()

    @app.failure_policy
    async def retry(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        return RetryLater(delays[original.body], original.attempt + 1, exc, time.time())

    run_app(app, workers=4)
    assert attempts == {body: [1, 2] for body in delays}
    for body, delay in delays.items():
        waited = back_at[body] - failed_at[body]
        # Never early (the broker's TTL only fires once the delay passed; 10 ms
        # for clock granularity). Late by at most 10 % + 50 ms on an idle machine
        # (checked by hand); the bound asserted here leaves room for a loaded CI
        # box: what matters is that no delay waits behind a longer one (below).
        assert delay - 0.01 <= waited <= delay + 1.0, (body, delay, waited)
    order = sorted(back_at, key=back_at.__getitem__)
    assert order == [b"short", b"medium", b"long"]
    assert broker.counts(inbound) == (0, 0)
    assert broker.drain(broker.name(".dead")) == []

    # The delay queues exist with exactly these arguments (a declaration that
    # differs would be refused with PRECONDITION_FAILED).
    async def redeclare(channel: aio_pika.abc.AbstractChannel) -> list[int]:
        counts = []
        for delay in delays.values():
            ms = round(delay * 1000)
            queue = await channel.declare_queue(
                broker.name(f".delay.{ms}"), durable=True, arguments=delay_args(inbound, ms)
            )
            counts.append(queue.declaration_result.message_count or 0)
        return counts

    assert broker.run(redeclare) == [0, 0, 0]


def ready(broker: Broker, queue: str) -> int:
    """Messages ready in *queue*, or -1 while it does not exist yet."""
    try:
        return broker.counts(queue)[0]
    except Exception:
        return -1


@pytest.mark.slow
def test_sigkill_during_the_delay_loses_nothing(broker: Broker, tmp_path: Path) -> None:
    inbound = broker.name()
    delay_queue = broker.name(".delay.3000")
    broker.declare_inbound(inbound)
    broker.queues.add(delay_queue)
    total = 5
    broker.publish(inbound, [str(n).encode() for n in range(total)])
    output = tmp_path / "out"
    victim = start(broker, output, workers=2, retry_delay=3.0)
    try:
        wait_until(lambda: ready(broker, delay_queue) == total, "the retries to wait", timeout=15)
        # ... and the originals to be acknowledged (batched: within 50 ms), so
        # that what comes back is the retries only.
        wait_until(lambda: unacknowledged(inbound) == 0, "the acknowledgements", timeout=15)
        victim.signal(signal.SIGKILL)
        victim.finish(timeout=10)
    finally:
        victim.kill()
    assert processed(output) == []  # every first attempt failed
    # The delay runs out in the broker, with no consumer alive.
    wait_until(lambda: broker.counts(inbound)[0] == total, "the retries to come back", timeout=15)
    assert broker.counts(delay_queue)[0] == 0
    survivor = start(broker, output, workers=2, retry_delay=3.0)
    try:
        wait_until(lambda: len(processed(output)) == total, "the second attempts", timeout=15)
        survivor.signal(signal.SIGTERM)
        assert survivor.finish(timeout=15) == 0
    finally:
        survivor.kill()
    assert sorted(n for n, _ in processed(output)) == list(range(total))
    assert broker.counts(inbound) == (0, 0)
    assert broker.drain(broker.name(".dead")) == []

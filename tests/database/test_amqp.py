"""With RabbitMQ and a SIGKILL mid-run: no message acknowledged without its row committed."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.amqp.support import URL, Broker
from tests.support.processes import Process, doozer, wait_until

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 400


async def _connect(url: str) -> None:
    connection = await aio_pika.connect(url, timeout=5)
    await connection.close()


@pytest.fixture
def broker() -> Iterator[Broker]:
    """Uniquely named queues, deleted after the test; an unreachable broker fails it."""
    try:
        asyncio.run(_connect(URL))
    except Exception as exc:
        pytest.fail(f"RabbitMQ is not reachable at {URL} ({exc})", pytrace=False)
    handle = Broker(URL, f"doozer-test-db-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


async def _committed(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            exists = await connection.scalar(text("SELECT to_regclass('processed')"))
            if exists is None:
                return []
            rows = await connection.execute(text("SELECT message_id FROM processed"))
            return list(rows.scalars())
    finally:
        await engine.dispose()


def committed(url: str) -> list[str]:
    return asyncio.run(_committed(url))


def waiting(broker: Broker, queue: str) -> set[str]:
    """The bodies of the messages ready in *queue*, left there (taken, then returned)."""

    async def peek(channel: aio_pika.abc.AbstractChannel) -> set[str]:
        source = await channel.get_queue(queue, ensure=False)
        taken = []
        while (message := await source.get(fail=False)) is not None:
            taken.append(message)
        for message in taken:
            await message.nack(requeue=True)
        return {message.body.decode() for message in taken}

    result: set[str] = broker.run(peek)
    return result


def service(broker: Broker, queue: str, database_url: str, delay: float) -> Process:
    env = {
        "DOOZER_TEST_AMQP_URL": broker.url,
        "DOOZER_TEST_QUEUE": queue,
        "DOOZER_TEST_DATABASE_URL": database_url,
        "DOOZER_TEST_DELAY": str(delay),
    }
    return doozer("run", "-w", "4", "tests.database.amqp_service:app", cwd=ROOT, env=env)


@pytest.mark.slow
def test_a_sigkill_never_acknowledges_an_uncommitted_message(
    broker: Broker, database_url: str
) -> None:
    queue = broker.name()
    broker.declare_inbound(queue)
    ids = [f"m{i:04d}" for i in range(MESSAGES)]
    broker.publish(queue, [body.encode() for body in ids])

    first = service(broker, queue, database_url, delay=0.01)
    try:
        wait_until(lambda: len(committed(database_url)) >= MESSAGES // 3, "a third is stored")
        first.kill()  # SIGKILL: no teardown, no acknowledgement sent after this
    finally:
        first.kill()
    # The broker notices the closed socket and takes the unacknowledged messages back.
    wait_until(lambda: broker.counts(queue)[1] == 0, "the killed consumer is gone")

    stored = set(committed(database_url))
    left = waiting(broker, queue)
    acknowledged = set(ids) - left
    assert acknowledged, "the first service acknowledged nothing"
    assert left, "the first service finished before it was killed"
    assert acknowledged <= stored, f"acknowledged without a row: {sorted(acknowledged - stored)}"

    survivor = service(broker, queue, database_url, delay=0)
    try:
        wait_until(lambda: len(committed(database_url)) == MESSAGES, "every message is stored")
        wait_until(lambda: broker.counts(queue)[0] == 0, "the queue is drained")
        survivor.signal(signal.SIGTERM)
        assert survivor.finish(timeout=20) == 0, survivor.output("stderr")
    finally:
        survivor.kill()
    rows = committed(database_url)
    assert sorted(rows) == ids  # exactly one row per message
    # Committed by the first service but not acknowledged: redelivered, absorbed.
    duplicates = {line.split()[1] for line in survivor.stdout if line.startswith("duplicate ")}
    assert duplicates == stored & left
    print(  # shown with -s: how the run went
        f"acknowledged {len(acknowledged)}, committed {len(stored)}, returned {len(left)}, "
        f"duplicates absorbed {len(duplicates)}"
    )
    assert broker.counts(queue) == (0, 0)

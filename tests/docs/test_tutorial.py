"""The tutorial, end to end, as a reader runs it: an empty broker, the service, its scripts.

Against the local RabbitMQ (as CI starts it), on queues named for this test
and deleted afterwards; the service's settings come from DOOZER_* variables,
as the tutorial shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest

from ..support.processes import doozer, wait_until

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tutorial"
URL = os.environ.get("DOOZER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def queue_size(name: str) -> int:
    """The messages ready in queue *name*; -1 while it does not exist."""

    async def size() -> int:
        connection = await aio_pika.connect(URL)
        async with connection:
            try:
                queue = await (await connection.channel()).declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                return -1
            return queue.declaration_result.message_count or 0

    return asyncio.run(size())


@pytest.fixture
def queues() -> Iterator[dict[str, str]]:
    prefix = f"tutorial-{uuid.uuid4().hex[:8]}"
    names = {"orders": f"{prefix}-orders", "invoices": f"{prefix}-invoices"}
    names["dead"] = f"{names['orders']}.dead"
    yield names

    async def delete() -> None:
        connection = await aio_pika.connect(URL)
        async with connection:
            channel = await connection.channel()
            for name in names.values():
                await channel.queue_delete(name)

    asyncio.run(delete())


def script(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=TUTORIAL, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_the_tutorial_from_an_empty_broker(queues: dict[str, str]) -> None:
    env = {
        "DOOZER_AMQP_URL": URL,
        "DOOZER_AMQP_INBOUND_QUEUE": queues["orders"],
        "DOOZER_AMQP_OUTBOUND_QUEUE": queues["invoices"],
        "DOOZER_AMQP_OUTBOUND_ROUTING_KEY": queues["invoices"],
    }
    service = doozer("run", "invoicing", "-w", "4", cwd=TUTORIAL, env=env)
    try:
        # The service declares its queues when it starts: publish once they exist.
        wait_until(lambda: queue_size(queues["orders"]) == 0, "the service declared its queue")
        published = script("publish_orders.py", URL, queues["orders"])
        assert published == f"published 5 messages to {queues['orders']!r}\n"
        wait_until(lambda: queue_size(queues["dead"]) == 1, "the bad order is dead-lettered")
        wait_until(lambda: queue_size(queues["invoices"]) == 3, "three invoices are out")
        service.signal(signal.SIGTERM)
        assert service.finish() == 0, service.output("stderr")
    finally:
        service.kill()
    stderr = service.output("stderr")
    assert "Stopped 'invoicing' after 5 message(s) (1 aborted, 1 failed, 3 succeeded)" in stderr

    lines = script("read_queue.py", queues["invoices"], URL).splitlines()
    invoices = [json.loads(line) for line in lines]
    assert sorted(invoices, key=lambda i: i["order"]) == [
        {"order": 1, "customer": "ada", "total": 7.5},
        {"order": 2, "customer": "grace", "total": 99.0},
        {"order": 4, "customer": "barbara", "total": 9.0},
    ]
    (dead,) = script("read_queue.py", queues["dead"], URL).splitlines()
    assert dead.startswith("{this is not json  <- JSONDecodeError: ")

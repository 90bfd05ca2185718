"""A synchronous handle on the test broker, and helpers to run applications."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aio_pika

from doozer import Application

URL = os.environ.get("DOOZER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass
class Got:
    """A message taken from a queue by :meth:`Broker.drain`."""

    body: bytes
    headers: dict[str, Any]
    routing_key: str | None
    redelivered: bool


@dataclass
class Broker:
    """Uniquely named queues on the test broker; each call opens its own connection."""

    url: str
    prefix: str
    queues: set[str] = field(default_factory=set)
    exchanges: set[str] = field(default_factory=set)

    def name(self, suffix: str = "") -> str:
        """A name under this test's prefix, deleted at the end of the test."""
        return f"{self.prefix}{suffix}"

    def run(self, coroutine_function: Callable[[aio_pika.abc.AbstractChannel], Any]) -> Any:
        async def main() -> Any:
            connection = await aio_pika.connect(self.url)
            try:
                channel = await connection.channel()
                return await coroutine_function(channel)
            finally:
                await connection.close()

        return asyncio.run(main())

    def declare_inbound(self, queue: str, dead: str | None = None) -> None:
        """Declare *queue* as AMQP() does (so the declarations agree)."""
        dead = dead or f"{queue}.dead"
        self.queues.update((queue, dead))

        async def declare(channel: aio_pika.abc.AbstractChannel) -> None:
            await channel.declare_queue(dead, durable=True)
            await channel.declare_queue(
                queue,
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead},
            )

        self.run(declare)

    def declare(self, queue: str) -> None:
        """Declare a plain durable queue."""
        self.queues.add(queue)

        async def declare(channel: aio_pika.abc.AbstractChannel) -> None:
            await channel.declare_queue(queue, durable=True)

        self.run(declare)

    def publish(
        self,
        queue: str,
        bodies: Iterable[bytes],
        headers: Mapping[str, Any] | None = None,
        **properties: Any,
    ) -> None:
        """Publish each body to *queue* through the default exchange, with confirms."""

        async def publish(channel: aio_pika.abc.AbstractChannel) -> None:
            exchange = channel.default_exchange
            pending = [
                exchange.publish(
                    aio_pika.Message(body, headers=dict(headers or {}), **properties),
                    routing_key=queue,
                )
                for body in bodies
            ]
            for start in range(0, len(pending), 1000):
                await asyncio.gather(*pending[start : start + 1000])

        self.run(publish)

    def counts(self, queue: str) -> tuple[int, int]:
        """(ready, consumers) of *queue*."""

        async def count(channel: aio_pika.abc.AbstractChannel) -> tuple[int, int]:
            declared = await channel.declare_queue(queue, passive=True)
            result = declared.declaration_result
            return result.message_count or 0, result.consumer_count or 0

        result: tuple[int, int] = self.run(count)
        return result

    def drain(self, queue: str) -> list[Got]:
        """Take (and acknowledge) every message ready in *queue*."""

        async def drain(channel: aio_pika.abc.AbstractChannel) -> list[Got]:
            source = await channel.get_queue(queue, ensure=False)
            got = []
            while (message := await source.get(fail=False)) is not None:
                await message.ack()
                got.append(
                    Got(
                        message.body,
                        dict(message.headers or {}),
                        message.routing_key,
                        bool(message.redelivered),
                    )
                )
            return got

        result: list[Got] = self.run(drain)
        return result

    def cleanup(self) -> None:
        async def delete(channel: aio_pika.abc.AbstractChannel) -> None:
            for queue in sorted(self.queues):
                await channel.queue_delete(queue)
            for exchange in sorted(self.exchanges):
                await channel.exchange_delete(exchange)

        self.run(delete)


def unacknowledged(queue: str) -> int:
    """The number of unacknowledged messages of *queue*, from rabbitmqctl."""
    out = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_queues",
            "--no-table-headers",
            "name",
            "messages_unacknowledged",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    for line in out.splitlines():
        name, _, count = line.rpartition("\t")
        if name == queue:
            return int(count)
    raise LookupError(f"no queue {queue!r} in {out!r}")


def close_connections(name_part: str) -> int:
    """Make the broker close every connection whose name contains *name_part*."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "--no-table-headers", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    closed = 0
    for line in out.splitlines():
        pid, _, properties = line.partition("\t")
        match = re.search(r'\{"connection_name","([^"]*)"\}', properties)
        if match and name_part in match.group(1):
            subprocess.run(
                ["rabbitmqctl", "-q", "close_connection", pid, "forced by the doozer tests"],
                check=True,
                capture_output=True,
                timeout=30,
            )
            closed += 1
    return closed


def stop_soon(app: Application) -> None:
    """Stop the running application the way SIGTERM does (from inside a callback)."""
    os.kill(os.getpid(), signal.SIGTERM)


def run_app(app: Application, workers: int = 2, timeout: float = 30) -> None:
    """Run *app* in this (main) thread; SIGTERM it if it still runs after *timeout*."""

    @app.startup
    async def watchdog(app: Application) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(timeout, os.kill, os.getpid(), signal.SIGTERM)

    started = time.monotonic()
    app.run_forever(num_workers=workers)
    assert time.monotonic() - started < timeout, "the application had to be stopped by the watchdog"

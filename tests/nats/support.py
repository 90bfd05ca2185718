"""Helpers for the NATS tests: one test's streams, driven from sync or async code."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

T = TypeVar("T")


@dataclass(frozen=True)
class Stored:
    """A message as a stream stored it."""

    subject: str
    data: bytes
    headers: dict[str, str]


class Streams:
    """A stream ``<prefix>`` (subject ``<prefix>.in``) and its dead letters, for one test."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.stream = prefix
        self.durable = "nats-service"

    @property
    def inbound(self) -> str:
        return f"{self.stream}.in"

    @property
    def outbound(self) -> str:
        return f"{self.stream}.out"

    @property
    def dead_stream(self) -> str:
        return f"{self.stream}_dead"

    @property
    def dead_subject(self) -> str:
        return f"doozer.dead.{self.stream}"

    def settings(self, **more: Any) -> dict[str, Any]:
        """Settings of an application consuming the stream."""
        return {
            "NATS_URL": self.url,
            "NATS_STREAM": self.stream,
            "NATS_SUBJECTS": [self.inbound, self.outbound],
            "NATS_INBOUND_SUBJECT": self.inbound,
            "NATS_DURABLE": self.durable,
            "NATS_OUTBOUND_SUBJECT": self.outbound,
            "NATS_CONNECT_TIMEOUT": 5,
            "NATS_RECONNECT_DELAY": 0.2,
            **more,
        }

    # -- async (inside a test's loop) ---------------------------------------

    async def call(self, action: Callable[[JetStreamContext], Awaitable[T]]) -> T:
        client = await nats.connect(self.url)
        try:
            return await action(client.jetstream())
        finally:
            await client.close()

    async def create(self) -> None:
        await self.call(
            lambda js: js.add_stream(name=self.stream, subjects=[self.inbound, self.outbound])
        )

    async def publish(self, bodies: list[bytes], subject: str | None = None) -> None:
        async def send(js: JetStreamContext) -> None:
            futures = [await js.publish_async(subject or self.inbound, body) for body in bodies]
            await asyncio.gather(*futures)

        await self.call(send)

    async def messages(self, subject: str, stream: str | None = None) -> list[Stored]:
        """Every message stored under *subject*, in order."""

        async def read(js: JetStreamContext) -> list[Stored]:
            name = stream or self.stream
            try:
                info = await js.stream_info(name)
            except NotFoundError:
                return []
            found: list[Stored] = []
            if not info.state.messages:
                return found
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    raw = await js.get_msg(name, sequence)
                except NotFoundError:
                    continue
                if raw.subject == subject:
                    found.append(Stored(raw.subject, raw.data or b"", raw.headers or {}))
            return found

        return await self.call(read)

    async def dead_letters(self) -> list[Stored]:
        return await self.messages(self.dead_subject, self.dead_stream)

    async def consumer(self) -> Any:
        return await self.call(lambda js: js.consumer_info(self.stream, self.durable))

    async def fetch_all(self, wanted: int, timeout: float) -> list[bytes]:
        """Pull (and acknowledge) up to *wanted* messages as the durable, for *timeout* s."""

        async def pull(js: JetStreamContext) -> list[bytes]:
            subscription = await js.pull_subscribe(
                self.inbound, durable=self.durable, stream=self.stream
            )
            bodies: list[bytes] = []
            deadline = asyncio.get_running_loop().time() + timeout
            while len(bodies) < wanted:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0.1:
                    break
                try:
                    batch = await subscription.fetch(wanted - len(bodies), timeout=left)
                except asyncio.TimeoutError:
                    break
                for msg in batch:
                    bodies.append(msg.data)
                    await msg.ack()
            return bodies

        return await self.call(pull)

    async def delete(self) -> None:
        async def drop(js: JetStreamContext) -> None:
            for name in (self.stream, self.dead_stream):
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(name)

        await self.call(drop)

    # -- sync (from tests that drive subprocesses) -----------------------------

    def run(self, work: Awaitable[T]) -> T:
        async def go() -> T:
            return await work

        return asyncio.run(go())

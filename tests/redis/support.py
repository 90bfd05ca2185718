"""Helpers for the Redis tests: uniquely named streams, read back synchronously."""

from __future__ import annotations

from typing import Any

import redis


class Streams:
    """Streams named ``<prefix>.<suffix>`` for one test, all deleted by :meth:`cleanup`."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        # Any: redis-py's sync/async union types get in the way of simple tests.
        self.client: Any = redis.Redis.from_url(url)

    @property
    def inbound(self) -> str:
        return f"{self.prefix}.in"

    @property
    def dead(self) -> str:
        return f"{self.prefix}.in.dead"

    @property
    def retry(self) -> str:
        return f"{self.prefix}.in.retry"

    @property
    def outbound(self) -> str:
        return f"{self.prefix}.out"

    def add(self, bodies: list[bytes], stream: str | None = None) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for body in bodies:
            pipe.xadd(stream or self.inbound, {"body": body})
        return [entry.decode() for entry in pipe.execute()]

    def entries(self, stream: str) -> list[tuple[str, dict[bytes, bytes]]]:
        return [(entry.decode(), fields) for entry, fields in self.client.xrange(stream)]

    def bodies(self, stream: str) -> list[bytes]:
        return [fields[b"body"] for _, fields in self.entries(stream)]

    def pending(self, group: str) -> int:
        summary = self.client.xpending(self.inbound, group)
        return int(summary["pending"])

    def cleanup(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}.*", count=1000))
        if keys:
            self.client.delete(*keys)
        self.client.close()

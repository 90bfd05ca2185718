"""Adding entries to a stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._connection import Connection
from ._message import BODY

__all__ = ["Producer"]


class Producer:
    """Adds entries to one stream; made by :meth:`RedisStreams.producer`.

    If the connection is lost on the way, the entry is added again once the
    server is back (so it may arrive twice, never zero times).
    """

    __slots__ = {
        "connection": "The :class:`Connection` it publishes through.",
        "maxlen": "Approximate length the stream is trimmed to on each add (None: never).",
        "stream": "The stream it adds entries to.",
    }

    def __init__(self, connection: Connection, stream: str, maxlen: int | None = None) -> None:
        self.connection = connection
        self.stream = stream
        self.maxlen = maxlen

    def __repr__(self) -> str:
        return f"<{type(self).__name__} stream={self.stream!r} at {self.connection.where}>"

    async def publish(
        self,
        body: bytes | str,
        headers: Mapping[str, str | bytes | int | float] | None = None,
        *,
        stream: str | None = None,
    ) -> str:
        """Add an entry with *body* in its ``body`` field and *headers* as further fields.

        :param body: the body; a string is encoded as UTF-8.
        :param headers: more fields of the entry.
        :param stream: the stream, by default the producer's.
        :returns: the new entry's id.
        """
        fields: list[Any] = [BODY, body]
        for key, value in (headers or {}).items():
            if key == "body":
                raise ValueError("'body' is the body's field: pass it as body, not in headers")
            fields += [key, value]
        trim: list[Any] = ["MAXLEN", "~", self.maxlen] if self.maxlen else []
        entry_id = await self.connection.execute(
            "XADD", stream or self.stream, *trim, "*", *fields, what="adding an entry"
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

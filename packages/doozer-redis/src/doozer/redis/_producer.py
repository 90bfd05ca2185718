"""Adding entries to a stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._connection import Connection
from ._message import BODY

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["Producer"]


class Producer:
    """Adds entries to one stream; made by :meth:`RedisStreams.producer`.

    If the connection is lost on the way, the entry is added again once the
    server is back (so it may arrive twice, never zero times).
    """

    __slots__ = {
        "app": "The application it publishes for (its publish wrappers see each entry), or None.",
        "connection": "The :class:`Connection` it publishes through.",
        "maxlen": "Approximate length the stream is trimmed to on each add (None: never).",
        "stream": "The stream it adds entries to.",
    }

    def __init__(
        self,
        connection: Connection,
        stream: str,
        maxlen: int | None = None,
        app: Application | None = None,
    ) -> None:
        self.app = app
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
        for key in headers or ():
            if key == "body":
                raise ValueError("'body' is the body's field: pass it as body, not in headers")
        destination = stream or self.stream
        fields_to_add = dict(headers or {})
        trim: list[Any] = ["MAXLEN", "~", self.maxlen] if self.maxlen else []

        async def add() -> str:
            # The fields are read here: the application's publish wrappers
            # (tracing) may have added to them.
            fields: list[Any] = [BODY, body]
            for key, value in fields_to_add.items():
                fields += [key, value]
            entry_id = await self.connection.execute(
                "XADD", destination, *trim, "*", *fields, what="adding an entry"
            )
            return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

        if self.app is None:
            return await add()
        return await self.app.publishing(destination, fields_to_add, add)

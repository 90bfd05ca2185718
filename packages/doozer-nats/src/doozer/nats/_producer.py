"""Publishing to a subject captured by a stream, awaiting JetStream's acknowledgement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._connection import Connection

if TYPE_CHECKING:
    from doozer import Application

__all__ = ["Producer"]

#: Seconds to wait for JetStream's acknowledgement of one message.
PUBLISH_TIMEOUT = 5.0


class Producer:
    """Publishes to one subject; made by :meth:`JetStream.producer`.

    :meth:`publish` returns once a stream stored the message.
    """

    __slots__ = {
        "app": "The application it publishes for (its publish wrappers see each message), or None.",
        "connection": "The :class:`Connection` it publishes through.",
        "subject": "The subject it publishes to.",
    }

    def __init__(
        self, connection: Connection, subject: str, app: Application | None = None
    ) -> None:
        self.app = app
        self.connection = connection
        self.subject = subject

    def __repr__(self) -> str:
        return f"<{type(self).__name__} subject={self.subject!r} at {self.connection.where}>"

    async def publish(
        self,
        body: bytes | str,
        headers: Mapping[str, str] | None = None,
        *,
        subject: str | None = None,
    ) -> int:
        """Publish *body* with *headers* and wait until a stream stored it.

        :param body: the payload; a string is encoded as UTF-8.
        :param headers: NATS headers (strings).
        :param subject: the subject, by default the producer's.
        :returns: the message's sequence number in the stream that stored it.
        :raises nats.js.errors.NoStreamResponseError: if no stream captures the subject.
        """
        payload = body.encode() if isinstance(body, str) else body
        destination = subject or self.subject
        to_send = dict(headers or {})

        async def send() -> int:
            # Headers are read here: the application's publish wrappers (tracing) may add some.
            ack = await self.connection.js.publish(
                destination, payload, timeout=PUBLISH_TIMEOUT, headers=to_send or None
            )
            return int(ack.seq)

        if self.app is None:
            return await send()
        return await self.app.publishing(destination, to_send, send)

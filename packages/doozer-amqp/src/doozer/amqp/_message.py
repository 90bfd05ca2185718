"""The message a :class:`~doozer.amqp.Consumer` reads: a Doozer delivery."""

from __future__ import annotations

import reprlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import DeliveryMode
from aiormq.abc import DeliveredMessage

from doozer import headers as names

if TYPE_CHECKING:
    from doozer.outcomes import Outcome

    from ._session import Session

__all__ = ["RETRY_HEADER", "Message", "describe_server", "destination_name"]

#: The header in which doozer-amqp 2.0 kept :mod:`doozer.contrib.retry`'s
#: state; it is read (for messages published by 2.0), no longer written.
RETRY_HEADER = "x-doozer-retry"

#: ``settle(message, outcome)``: what turns an outcome into broker operations.
Settle = Callable[["Message", "Outcome"], Awaitable[None]]

#: The default exchange's name in the OpenTelemetry conventions.
DEFAULT_EXCHANGE = "amq.default"


def describe_server(url: str) -> dict[str, str | int]:
    """The OpenTelemetry attributes that every delivery from the broker at *url* shares."""
    parts = urlsplit(url)
    return {
        "messaging.system": "rabbitmq",
        "server.address": parts.hostname or "",
        "server.port": parts.port or (5671 if parts.scheme == "amqps" else 5672),
    }


def destination_name(exchange: str, routing_key: str) -> str:
    """Where a message is published to, as the OpenTelemetry conventions name it.

    ``exchange:routing_key``; either alone when the other is empty;
    ``amq.default`` for the default exchange without a routing key.
    """
    if exchange and routing_key:
        return f"{exchange}:{routing_key}"
    return exchange or routing_key or DEFAULT_EXCHANGE


class Message:
    """One delivery from the inbound queue (a :class:`doozer.types.Delivery`).

    Doozer settles it for you once it is finished, according to its
    outcome (see :doc:`/amqp`); :meth:`ack`, :meth:`nack` and :meth:`reject`
    are there to settle it earlier or differently yourself, after which
    Doozer leaves it alone.
    """

    # A mapping, so that autodoc shows the public attributes' descriptions.
    __slots__ = {
        "_attributes": None,
        "_properties": None,
        "_session": None,
        "_settle": None,
        "_settled": None,
        "attempt": "Which attempt at processing it this is: 1, or the x-doozer-attempt header.",
        "body": "The message body (bytes).",
        "content_type": "The publisher's content type, or None.",
        "correlation_id": "The publisher's correlation id, or None.",
        "delivery_tag": "The broker's delivery tag, on the consuming channel.",
        "exchange": 'The exchange it was published to ("" for the default exchange).',
        "first_failure": "When it first failed (seconds since the epoch), for a retried message.",
        "headers": "The message headers: a new dict, empty when the message had none.",
        "message_id": "The publisher's message id, or None.",
        "redelivered": "True when the broker delivered it before, to this or another consumer.",
        "routing_key": "The routing key it was published with.",
    }

    def __init__(self, delivered: DeliveredMessage, session: Session, settle: Settle):
        # Made straight from aiormq's delivery: aio-pika's IncomingMessage
        # would cost more than the rest of the way through Doozer.
        properties = delivered.header.properties
        self.body: bytes = delivered.body
        headers = properties.headers
        self.headers: dict[str, Any] = dict(headers) if headers else {}
        self.routing_key: str | None = delivered.routing_key
        self.exchange: str | None = delivered.exchange
        self.message_id: str | None = properties.message_id
        self.content_type: str | None = properties.content_type
        self.correlation_id: str | None = properties.correlation_id
        self.redelivered: bool = bool(delivered.redelivered)
        self.delivery_tag: int = delivered.delivery_tag or 0
        if headers:
            self.attempt, self.first_failure = _retry_state(self.headers)
        else:
            self.attempt, self.first_failure = 1, None
        self._properties = properties
        self._session = session
        self._settle = settle
        self._settled = False

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} routing_key={self.routing_key!r} "
            f"message_id={self.message_id!r} body={reprlib.repr(self.body)}>"
        )

    @property
    def messaging_attributes(self) -> Mapping[str, str | int]:
        """Its OpenTelemetry messaging attributes (semantic conventions for RabbitMQ).

        ``messaging.system`` (``"rabbitmq"``), ``messaging.destination.name``
        (``exchange:routing_key:queue``, empty parts left out, the routing key
        alone when it is the queue's name), ``messaging.rabbitmq.destination.routing_key``,
        ``messaging.rabbitmq.message.delivery_tag``, ``messaging.message.id`` and
        ``messaging.message.conversation_id`` (the message and correlation ids,
        when set), ``server.address`` and ``server.port``. Made on first use.
        """
        try:
            return self._attributes
        except AttributeError:  # not made yet: most runs never ask
            pass
        exchange = self.exchange or ""
        routing_key = self.routing_key or ""
        queue = self._session.queue
        parts = [exchange, routing_key] if routing_key == queue else [exchange, routing_key, queue]
        attributes: dict[str, str | int] = {
            **self._session.described,
            "messaging.destination.name": ":".join(part for part in parts if part),
            "messaging.rabbitmq.message.delivery_tag": self.delivery_tag,
        }
        if routing_key:
            attributes["messaging.rabbitmq.destination.routing_key"] = routing_key
        if self.message_id is not None:
            attributes["messaging.message.id"] = self.message_id
        if self.correlation_id is not None:
            attributes["messaging.message.conversation_id"] = self.correlation_id
        self._attributes: Mapping[str, str | int] = attributes
        return attributes

    @property
    def settled(self) -> bool:
        """Whether the message was acknowledged, rejected or returned already."""
        return self._settled

    @property
    def stale(self) -> bool:
        """Whether the channel it came on is gone (the broker delivers it again)."""
        return self._session.stale

    async def settle(self, outcome: Outcome) -> None:
        """Tell the broker what became of the message (Doozer calls it once).

        Does nothing if the message was settled already.
        """
        if not self._settled:
            await self._settle(self, outcome)

    async def ack(self) -> None:
        """Acknowledge the message: the broker forgets it.

        The acknowledgement may wait for the next batch
        (``AMQP_ACK_BATCH_SIZE``); it is sent before the channel closes.
        """
        self._check()
        self._settled = True
        await self._session.ack(self.delivery_tag)

    async def nack(self, requeue: bool = True) -> None:
        """Return the message to its queue, or dead-letter it with ``requeue=False``."""
        self._check()
        self._settled = True
        await self._session.nack(self.delivery_tag, requeue)

    async def reject(self) -> None:
        """Reject the message: the broker dead-letters it (``x-death`` tells why)."""
        self._check()
        self._settled = True
        await self._session.reject(self.delivery_tag)

    def _check(self) -> None:
        if self._settled:
            raise RuntimeError(f"{self!r} was settled already (acknowledged or rejected)")

    def copy(self, headers: Mapping[str, Any]) -> aio_pika.Message:
        """A persistent copy to publish again, with *headers* instead of the original ones."""
        properties = self._properties
        return aio_pika.Message(
            self.body,
            headers=dict(headers),
            content_type=properties.content_type,
            content_encoding=properties.content_encoding,
            delivery_mode=DeliveryMode.PERSISTENT,
            priority=properties.priority,
            correlation_id=properties.correlation_id,
            reply_to=properties.reply_to,
            message_id=properties.message_id,
            timestamp=properties.timestamp,
            type=properties.message_type,
            app_id=properties.app_id,
        )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _retry_state(headers: Mapping[str, Any]) -> tuple[int, float | None]:
    """(attempt, first failure) from the headers; a malformed header counts as absent."""
    attempt, first_failure = 1, None
    try:
        if names.ATTEMPT in headers:
            attempt = max(int(_text(headers[names.ATTEMPT])), 1)
        if names.FIRST_FAILURE in headers:
            first_failure = float(_text(headers[names.FIRST_FAILURE]))
    except (TypeError, ValueError):
        return 1, None
    legacy = headers.get(RETRY_HEADER)
    if names.ATTEMPT not in headers and isinstance(legacy, Mapping):
        try:  # doozer-amqp 2.0: {"count": retries so far, "start_time": "<float>", ...}
            attempt = int(legacy["count"]) + 1
            first_failure = float(_text(legacy["start_time"]))
        except (KeyError, TypeError, ValueError):
            pass
    return attempt, first_failure

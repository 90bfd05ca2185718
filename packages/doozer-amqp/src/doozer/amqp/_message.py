"""The message a :class:`~doozer.amqp.Consumer` reads."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode

if TYPE_CHECKING:
    from ._consumer import Consumer

__all__ = ["RETRY_HEADER", "Message"]

#: The header that carries :mod:`doozer.contrib.retry`'s state between deliveries.
RETRY_HEADER = "x-doozer-retry"


class Message:
    """One delivery from the inbound queue.

    Doozer acknowledges it for you once it is finished (see
    :class:`~doozer.amqp.AMQP`); :meth:`ack`, :meth:`nack` and :meth:`reject`
    are there to settle it earlier or differently yourself, after which
    Doozer leaves it alone.
    """

    # A mapping, so that autodoc shows the public attributes' descriptions.
    __slots__ = {
        "_consumer": None,
        "_failure": None,
        "_generation": None,
        "_incoming": None,
        "_retry": None,
        "_settled": None,
        "body": "The message body (bytes).",
        "content_type": "The publisher's content type, or None.",
        "correlation_id": "The publisher's correlation id, or None.",
        "exchange": 'The exchange it was published to ("" for the default exchange).',
        "headers": "The message headers: a new dict, empty when the message had none.",
        "message_id": "The publisher's message id, or None.",
        "redelivered": "True when the broker delivered it before, to this or another consumer.",
        "routing_key": "The routing key it was published with.",
    }

    def __init__(self, incoming: AbstractIncomingMessage, consumer: Consumer, generation: int):
        self.body: bytes = incoming.body
        self.headers: dict[str, Any] = dict(incoming.headers or {})
        self.routing_key: str | None = incoming.routing_key
        self.exchange: str | None = incoming.exchange
        self.message_id: str | None = incoming.message_id
        self.content_type: str | None = incoming.content_type
        self.correlation_id: str | None = incoming.correlation_id
        self.redelivered: bool = bool(incoming.redelivered)
        # Where doozer.contrib.retry looks for and keeps its state.
        self._retry: dict[str, Any] | None = decode_retry_state(self.headers.get(RETRY_HEADER))
        self._incoming = incoming
        self._consumer = consumer
        self._generation = generation
        self._failure: BaseException | None = None
        self._settled = False

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} routing_key={self.routing_key!r} "
            f"message_id={self.message_id!r} body={reprlib.repr(self.body)}>"
        )

    @property
    def settled(self) -> bool:
        """Whether the message was acknowledged, rejected or returned already."""
        return self._settled

    @property
    def stale(self) -> bool:
        """Whether the connection it came on was lost (the broker delivers it again)."""
        return not self._consumer._is_current(self._generation)

    async def ack(self) -> None:
        """Acknowledge the message: the broker forgets it."""
        self._check()
        self._settled = True
        await self._incoming.ack()

    async def nack(self, requeue: bool = True) -> None:
        """Return the message to its queue, or dead-letter it with ``requeue=False``."""
        self._check()
        self._settled = True
        await self._incoming.nack(requeue=requeue)

    async def reject(self) -> None:
        """Reject the message: the broker dead-letters it (``x-death`` tells why)."""
        self._check()
        self._settled = True
        await self._incoming.reject(requeue=False)

    def _check(self) -> None:
        if self._settled:
            raise RuntimeError(f"{self!r} was settled already (acknowledged or rejected)")

    def _copy(self, headers: Mapping[str, Any]) -> aio_pika.Message:
        """A persistent copy to publish again, with *headers* instead of the original ones."""
        incoming = self._incoming
        return aio_pika.Message(
            self.body,
            headers=dict(headers),
            content_type=incoming.content_type,
            content_encoding=incoming.content_encoding,
            delivery_mode=DeliveryMode.PERSISTENT,
            priority=incoming.priority,
            correlation_id=incoming.correlation_id,
            reply_to=incoming.reply_to,
            message_id=incoming.message_id,
            timestamp=incoming.timestamp,
            type=incoming.type,
            app_id=incoming.app_id,
        )


def encode_retry_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """Retry's state as a header table.

    AMQP tables carry floats in single precision, too coarse for a
    timestamp, so the times travel as decimal strings.
    """
    table: dict[str, Any] = {}
    if "count" in state:
        table["count"] = int(state["count"])
    for key in ("start_time", "delay"):
        if key in state:
            table[key] = repr(float(state[key]))
    return table


def decode_retry_state(table: object) -> dict[str, Any] | None:
    """The state :func:`encode_retry_state` encoded, or None if *table* is not one."""
    if not isinstance(table, Mapping):
        return None
    state: dict[str, Any] = {}
    try:
        if "count" in table:
            state["count"] = int(table["count"])
        for key in ("start_time", "delay"):
            if key in table:
                value = table[key]
                state[key] = float(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return None
    return state

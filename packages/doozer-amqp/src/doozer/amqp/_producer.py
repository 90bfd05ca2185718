"""Publishing with publisher confirms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import DeliveryMode
from aio_pika.exceptions import PublishError

from ._link import Link
from ._message import destination_name

__all__ = ["Producer", "Publishing", "Result", "UnroutableError", "publish_directly"]

#: ``publishing(destination, headers, publish)``: runs ``await publish()``, which
#: builds the message from *headers* (that the caller may add to first) and sends
#: it; :meth:`doozer.Application.publishing`, through the application's publish wrappers.
Publishing = Callable[[str, dict[str, Any], Callable[[], Awaitable[Any]]], Awaitable[Any]]


async def publish_directly(
    destination: str, headers: dict[str, Any], publish: Callable[[], Awaitable[Any]]
) -> Any:
    """A :data:`Publishing` without wrappers: ``await publish()``."""
    return await publish()


class UnroutableError(Exception):
    """The broker could not route a mandatory message: no queue is bound for it."""


@dataclass(frozen=True)
class Result:
    """A result to publish, with its message properties.

    Return it from the callback (or a result postprocessor) instead of
    bytes when :meth:`AMQP.publish_result` should set more than the body.
    None means "the default": the producer's routing key, and the inbound
    message's correlation id.
    """

    #: The message body; a string is encoded as UTF-8.
    body: bytes | str
    #: The routing key, instead of ``AMQP_OUTBOUND_ROUTING_KEY``.
    routing_key: str | None = None
    #: Message headers.
    headers: Mapping[str, Any] = field(default_factory=dict)
    #: The content type property (``"application/json"``...).
    content_type: str | None = None
    #: The correlation id property; by default the inbound message's.
    correlation_id: str | None = None
    #: The message id property.
    message_id: str | None = None


class Producer:
    """Publishes messages to one exchange; made by :meth:`AMQP.producer`.

    Every message is persistent and :meth:`publish` returns once the broker
    confirmed it, so a published message survives a broker restart (when
    it lands in a durable queue).
    """

    # A mapping, so that autodoc shows the public attributes' descriptions.
    __slots__ = {
        "_link": None,
        "_publishing": None,
        "exchange": 'The exchange it publishes to ("" is the default exchange).',
        "routing_key": "The routing key used when publish() is given none.",
    }

    def __init__(
        self,
        link: Link,
        exchange: str,
        routing_key: str | None,
        publishing: Publishing = publish_directly,
    ) -> None:
        self._link = link
        self._publishing = publishing
        self.exchange = exchange
        self.routing_key = routing_key

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} exchange={self.exchange!r} routing_key={self.routing_key!r}>"
        )

    async def publish(
        self,
        body: bytes | str,
        routing_key: str | None = None,
        headers: Mapping[str, Any] | None = None,
        *,
        message_id: str | None = None,
        content_type: str | None = None,
        correlation_id: str | None = None,
        mandatory: bool = True,
    ) -> None:
        """Publish *body* and wait until the broker confirmed it.

        If the connection is lost on the way, the message is published
        again after reconnecting (so it may arrive twice, never zero times);
        the whole of it is bounded by ``AMQP_PUBLISH_TIMEOUT``. It goes
        through the application's publish wrappers
        (:meth:`doozer.Application.publish_wrapper`), which may add headers.

        :param body: the message body; a string is encoded as UTF-8.
        :param routing_key: the routing key; by default the producer's
            (``AMQP_OUTBOUND_ROUTING_KEY``).
        :param headers: message headers (values: strings, numbers, booleans,
            bytes, lists and mappings of those).
        :param message_id: the message id property.
        :param content_type: the content type property.
        :param correlation_id: the correlation id property.
        :param mandatory: when true (the default), a message that no queue
            receives is an error rather than silently dropped.
        :raises ValueError: if there is no routing key at all.
        :raises UnroutableError: with *mandatory*, if no queue receives it.
        :raises TimeoutError: if it took longer than ``AMQP_PUBLISH_TIMEOUT``.

        If the broker refuses the message, aio-pika's ``DeliveryError`` is raised.
        """
        key = self.routing_key if routing_key is None else routing_key
        if key is None:
            raise ValueError(
                "publish() needs a routing key: pass routing_key=... "
                "or set AMQP_OUTBOUND_ROUTING_KEY"
            )
        data = body.encode() if isinstance(body, str) else bytes(body)
        exchange, routing = self.exchange, key
        to_send: dict[str, Any] = dict(headers) if headers else {}

        async def publish() -> None:
            # The headers are read here: the publish wrappers (tracing) may have added to them.
            message = aio_pika.Message(
                data,
                headers=to_send or None,
                delivery_mode=DeliveryMode.PERSISTENT,
                message_id=message_id,
                content_type=content_type,
                correlation_id=correlation_id,
            )
            try:
                await self._link.publish(exchange, routing, message, mandatory)
            except PublishError:  # the broker returned it: nothing is bound for it
                raise UnroutableError(
                    f"the broker could not route a message published to exchange "
                    f"{exchange!r} with routing key {routing!r}: no queue is bound for it "
                    "(declare and bind one, or set AMQP_OUTBOUND_QUEUE)"
                ) from None

        await self._publishing(destination_name(exchange, key), to_send, publish)

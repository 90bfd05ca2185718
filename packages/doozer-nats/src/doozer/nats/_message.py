"""A JetStream message as Doozer sees it: a :class:`~doozer.types.Delivery`."""

from __future__ import annotations

import reprlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from doozer import headers as names

if TYPE_CHECKING:
    from doozer.outcomes import Outcome
    from nats.aio.msg import Msg

__all__ = ["Message"]

#: What settles a message: ``await settle(message, outcome)``.
Settle = Callable[["Message", "Outcome"], Awaitable[None]]


class Message:
    """One message of the stream, delivered by the durable consumer; made by :class:`Consumer`.

    Doozer settles it once it is finished: acknowledged, dead-lettered and
    terminated, negatively acknowledged with a delay (a retry), or handed
    back at once (see :doc:`/nats`).
    """

    __slots__ = {
        "_described": None,
        "_settle_with": None,
        "_settled": None,
        "arrived": "When it arrived (time.monotonic()), for keeping it alive.",
        "body": "The payload (bytes).",
        "deliveries": "How many times JetStream delivered it (1 the first time).",
        "first_failure": "When a retried message first failed (epoch seconds), if known.",
        "headers": "The NATS headers (str to str), empty when it had none.",
        "msg": "The nats-py message, to acknowledge it yourself (Doozer then leaves it alone).",
        "sequence": "Its sequence number in the stream.",
        "stream": "The stream it was read from.",
        "subject": "The subject it was published to.",
    }

    def __init__(
        self, msg: Msg, settle: Settle, described: Mapping[str, str | int] | None = None
    ) -> None:
        # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
        # (or with a domain and account: 12 tokens); parsed here, once, cheaply.
        tokens = msg.reply.split(".")
        offset = 0 if len(tokens) == 9 else 2
        self.msg = msg
        self.body: bytes = msg.data
        self.subject: str = msg.subject
        self.headers: dict[str, str] = msg.headers or {}
        self.stream: str = tokens[2 + offset]
        self.deliveries = int(tokens[4 + offset])
        self.sequence = int(tokens[5 + offset])
        self.first_failure = _number(self.headers.get(names.FIRST_FAILURE))
        self.arrived = time.monotonic()
        self._settle_with = settle
        self._settled = False
        self._described = described or {}

    @property
    def messaging_attributes(self) -> dict[str, str | int]:
        """Its OpenTelemetry messaging attributes (``messaging.system`` ``"nats"``, the
        subject, the durable consumer, the stream sequence as id, the server)."""
        return {
            **self._described,
            "messaging.destination.name": self.subject,
            "messaging.message.id": str(self.sequence),
        }

    @property
    def attempt(self) -> int:
        """Which attempt at processing it this is: JetStream's delivery count."""
        return self.deliveries

    @property
    def redelivered(self) -> bool:
        """Whether JetStream delivered it before (to this or another consumer)."""
        return self.deliveries > 1

    @property
    def settled(self) -> bool:
        """Whether it was settled already (by Doozer, or by you through :attr:`msg`)."""
        return self._settled or self.msg.is_acked

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.stream}#{self.sequence} subject={self.subject!r} "
            f"body={reprlib.repr(self.body)} deliveries={self.deliveries}>"
        )

    async def settle(self, outcome: Outcome) -> None:
        """Tell JetStream what became of the message (Doozer calls this once)."""
        if self._settled:
            return
        self._settled = True
        await self._settle_with(self, outcome)


def _number(value: object) -> float | None:
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None

"""Dead letters: a copy of the message, with the reason, in the dead-letter stream."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from doozer import headers as names

from ._connection import Connection, summary

if TYPE_CHECKING:
    from doozer import Application

    from ._consumer import Source
    from ._message import Message

__all__ = ["DeadLetters"]

_MAX_REASON = 4000
#: Seconds to wait for JetStream's acknowledgement of one dead letter.
_PUBLISH_TIMEOUT = 5.0


class DeadLetters:
    """Publishes dead letters (awaiting JetStream's acknowledgement), then terms the original."""

    def __init__(
        self,
        connection: Connection,
        source: Source,
        logger: logging.Logger,
        app: Application | None = None,
    ) -> None:
        self.app = app
        self.connection = connection
        self.source = source
        self.logger = logger

    async def failed(self, message: Message, exc: BaseException) -> None:
        """*message* failed for good (Failed outcome)."""
        await self._move(message, f"{type(exc).__name__}: {exc}", _type_name(exc))

    async def exhausted(self, message: Message, exc: BaseException) -> None:
        """*message* failed again on its last allowed delivery (NATS_MAX_DELIVER)."""
        reason = (
            f"failed on delivery {message.deliveries} of NATS_MAX_DELIVER "
            f"({self.source.max_deliver}): {type(exc).__name__}: {exc}"
        )
        await self._move(message, reason, _type_name(exc))

    async def crashed(self, message: Message) -> None:
        """*message* came back more than NATS_MAX_DELIVER times without finishing."""
        reason = (
            f"delivered {message.deliveries - 1} times (NATS_MAX_DELIVER is "
            f"{self.source.max_deliver}) without finishing: the consumers holding it "
            "crashed or stopped"
        )
        await self._move(message, reason, "doozer.nats.TooManyDeliveries")

    async def _move(self, message: Message, reason: str, error_type: str) -> None:
        source = self.source
        headers = {
            **message.headers,
            names.ERROR: reason[:_MAX_REASON].replace("\r", " ").replace("\n", " "),
            names.ERROR_TYPE: error_type,
            names.FAILED_AT: datetime.now(timezone.utc).isoformat(),
            "x-doozer-original-stream": message.stream,
            "x-doozer-original-subject": message.subject,
            "x-doozer-original-sequence": str(message.sequence),
            "x-doozer-deliveries": str(message.deliveries),
        }
        delay = 0.2

        async def publish() -> None:
            # Headers are read here: the application's publish wrappers (tracing) may add some.
            await self.connection.js.publish(
                source.dead_letter_subject, message.body, timeout=_PUBLISH_TIMEOUT, headers=headers
            )

        while True:
            try:
                if self.app is None:
                    await publish()
                else:
                    await self.app.publishing(source.dead_letter_subject, headers, publish)
                break
            except Exception as exc:  # the server is away: keep it held, try again
                if self.connection.client.is_closed:
                    raise
                self.logger.warning(
                    "Could not dead-letter %r yet (%s); trying again in %.1f s",
                    message,
                    summary(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await message.msg.term()
        self.logger.warning(
            "Message %s#%d (%r) moved to the dead-letter subject %r: %s",
            message.stream,
            message.sequence,
            message.subject,
            source.dead_letter_subject,
            headers[names.ERROR],
        )


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}"

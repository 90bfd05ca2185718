"""Mapping each message's outcome onto the broker: ack, dead letter, delayed retry, return."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from doozer import headers as names
from doozer.outcomes import Aborted, Failed, RetryLater, Succeeded, Unfinished

from ._link import LOST, Link
from ._message import RETRY_HEADER, Message
from ._producer import Publishing, publish_directly

if TYPE_CHECKING:
    from doozer.outcomes import Outcome

    from ._settings import Settings

#: Dead letters: the exchange the message was first published to.
ORIGINAL_EXCHANGE_HEADER = "x-doozer-original-exchange"
#: Dead letters: the routing key the message was first published with.
ORIGINAL_ROUTING_KEY_HEADER = "x-doozer-original-routing-key"

_MAX_REASON = 4000

#: A delay queue outlives its last declaration by its delay plus this (ms):
#: it is declared again before a publish when its last declaration is older
#: than REDECLARE_AFTER, so no message ever waits in an expiring queue.
EXPIRY_MARGIN_MS = 120_000
REDECLARE_AFTER = 30.0


def delay_queue_name(inbound_queue: str, delay_ms: int) -> str:
    """The queue where messages wait *delay_ms* before going back to *inbound_queue*."""
    return f"{inbound_queue}.delay.{delay_ms}"


def delay_queue_arguments(inbound_queue: str, delay_ms: int) -> dict[str, Any]:
    """The arguments a delay queue is declared with."""
    return {
        "x-message-ttl": delay_ms,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": inbound_queue,
        "x-expires": delay_ms + EXPIRY_MARGIN_MS,
    }


class Settler:
    """Settles the consumer's messages; a :class:`Message` calls it with its outcome.

    =====================  =====================================================
    outcome                on the broker
    =====================  =====================================================
    succeeded, aborted     acknowledged (batched)
    failed                 a copy with the reason in headers is published to the
                           dead-letter queue (confirmed), then the original is
                           acknowledged; if that publication fails for another
                           reason than a lost connection, the original is
                           rejected, so the queue's own dead-letter exchange
                           takes it
    retry later            a copy carrying the attempt is published (confirmed)
                           to ``<inbound>.delay.<ms>``, whose messages go back to
                           the inbound queue after the delay; then acknowledged
    unfinished             returned to the queue (``basic.nack``, requeue)
    =====================  =====================================================

    A message whose channel is gone is left alone: the broker delivers it again.
    Copies are published through *publishing* (the application's publish
    wrappers), whose headers become the copy's.
    """

    def __init__(
        self,
        link: Link,
        settings: Settings,
        logger: logging.Logger,
        publishing: Publishing = publish_directly,
    ) -> None:
        self.link = link
        self.settings = settings
        self.logger = logger
        self.publishing = publishing
        self._declared: dict[int, float] = {}  # delay (ms) -> monotonic time of declaration

    async def __call__(self, message: Message, outcome: Outcome) -> None:
        if message.stale:
            self._log_stale(message, outcome)
            return
        try:
            if isinstance(outcome, (Succeeded, Aborted)):
                await message.ack()
            elif isinstance(outcome, Failed):
                await self._dead_letter(message, outcome.exception)
            elif isinstance(outcome, RetryLater):
                await self._retry_later(message, outcome)
            elif isinstance(outcome, Unfinished):
                await message.nack(requeue=True)
            else:  # pragma: no cover - a new kind of outcome
                raise TypeError(f"unknown outcome {outcome!r}")
        except LOST as exc:
            self.logger.warning(
                "Could not acknowledge %r (%s): the connection was lost, so the broker "
                "delivers it again",
                message,
                type(exc).__name__,
            )

    def _log_stale(self, message: Message, outcome: Outcome) -> None:
        if isinstance(outcome, Unfinished):
            self.logger.info(
                "Returned %r to the broker unprocessed: the connection it came on was lost", message
            )
        else:
            self.logger.warning(
                "Could not acknowledge %r (%s): the connection it came on was lost, so the "
                "broker delivers it again",
                message,
                outcome.name,
            )

    async def _dead_letter(self, message: Message, exc: BaseException) -> None:
        kind = type(exc)
        reason = f"{kind.__name__}: {exc}"[:_MAX_REASON]
        headers: dict[str, Any] = {
            **message.headers,
            names.ERROR: reason,
            names.ERROR_TYPE: f"{kind.__module__}.{kind.__qualname__}",
            names.FAILED_AT: datetime.now(timezone.utc).isoformat(),
            ORIGINAL_EXCHANGE_HEADER: message.exchange or "",
            ORIGINAL_ROUTING_KEY_HEADER: message.routing_key or "",
        }
        queue = self.settings.dead_letter_queue

        async def publish() -> None:
            await self.link.publish("", queue, message.copy(headers), again=False)

        try:
            await self.publishing(queue, headers, publish)
        except LOST:
            raise
        except Exception as publish_error:
            self.logger.error(
                "Could not publish %r to the dead-letter queue %r (%s); rejecting it instead, "
                "so the inbound queue's dead-letter exchange takes it",
                message,
                queue,
                _describe(publish_error),
            )
            await message.reject()
            return
        self.logger.warning("Dead-lettered %r to %r: %s", message, queue, reason)
        await message.ack()

    async def _retry_later(self, message: Message, outcome: RetryLater) -> None:
        inbound = self.settings.inbound_queue or ""
        headers: dict[str, Any] = {
            key: value for key, value in message.headers.items() if key != RETRY_HEADER
        }
        headers[names.ATTEMPT] = str(outcome.attempt)
        headers[names.FIRST_FAILURE] = repr(float(outcome.first_failure))
        delay_ms = round(outcome.delay * 1000)
        try:
            if delay_ms <= 0:
                target = inbound
            else:
                target = delay_queue_name(inbound, delay_ms)
                await self._declare_delay_queue(inbound, delay_ms)
                if message.stale:  # lost meanwhile: the broker delivers the original again
                    raise ConnectionError("the connection was lost while declaring the delay queue")

            async def publish() -> None:
                await self.link.publish("", target, message.copy(headers), again=False)

            await self.publishing(target, headers, publish)
        except LOST:
            raise
        except Exception as publish_error:
            self.logger.error(
                "Could not schedule the retry of %r (%s); rejecting it, so the inbound "
                "queue's dead-letter exchange takes it",
                message,
                _describe(publish_error),
            )
            await message.reject()
            return
        await message.ack()

    async def _declare_delay_queue(self, inbound: str, delay_ms: int) -> None:
        now = time.monotonic()
        declared = self._declared.get(delay_ms)
        if declared is not None and now - declared < REDECLARE_AFTER:
            return
        await self.link.declare_queue(
            delay_queue_name(inbound, delay_ms), delay_queue_arguments(inbound, delay_ms)
        )
        self._declared[delay_ms] = now

    def forget_declarations(self) -> None:
        """Declare delay queues again before their next use (after reconnecting)."""
        self._declared.clear()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

"""Creating what a consumer needs on the server when it is missing: streams, the durable."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nats.js import api
from nats.js.errors import APIError, NotFoundError

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from ._consumer import Source

__all__ = ["ensure_consumer", "ensure_stream"]


async def ensure_stream(
    js: JetStreamContext, name: str, subjects: tuple[str, ...], logger: logging.Logger
) -> None:
    """Create the stream *name* capturing *subjects*, unless it exists."""
    try:
        await js.stream_info(name)
        return
    except NotFoundError:
        pass
    try:
        await js.add_stream(name=name, subjects=list(subjects))
    except APIError as exc:
        # Another process may have created it at the same moment.
        try:
            await js.stream_info(name)
        except NotFoundError:
            raise ValueError(
                f"cannot create the stream {name!r} for the subjects {list(subjects)}: "
                f"{exc.description or exc}; check NATS_STREAM and NATS_SUBJECTS"
            ) from None
        return
    logger.info("Created the stream %r for the subject(s) %s", name, ", ".join(subjects))


async def ensure_dead_letter_stream(
    js: JetStreamContext, source: Source, logger: logging.Logger
) -> None:
    """Make sure a stream captures the dead-letter subject (create one if none does)."""
    try:
        await js.find_stream_name_by_subject(source.dead_letter_subject)
    except NotFoundError:
        await ensure_stream(js, source.dead_letter_stream, (source.dead_letter_subject,), logger)


async def ensure_consumer(js: JetStreamContext, source: Source, logger: logging.Logger) -> None:
    """Create the streams and the durable pull consumer, unless they exist."""
    await ensure_stream(js, source.stream, source.subjects, logger)
    await ensure_dead_letter_stream(js, source, logger)
    config = api.ConsumerConfig(
        durable_name=source.durable,
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_wait=source.ack_wait,
        # Doozer counts deliveries itself (NATS_MAX_DELIVER) and dead-letters
        # the message: a server-side cap would strand it in the stream.
        max_deliver=-1,
        filter_subject=source.filter_subject,
    )
    try:
        await js.add_consumer(source.stream, config)
    except APIError as exc:
        try:
            info = await js.consumer_info(source.stream, source.durable)
        except NotFoundError:
            raise ValueError(
                f"cannot create the durable consumer {source.durable!r} on {source.stream!r}: "
                f"{exc.description or exc}; check NATS_DURABLE and NATS_INBOUND_SUBJECT"
            ) from None
        existing = info.config
        if (existing.filter_subject or None) != source.filter_subject:
            raise ValueError(
                f"the durable consumer {source.durable!r} of {source.stream!r} exists with the "
                f"filter {existing.filter_subject!r}, not NATS_INBOUND_SUBJECT "
                f"{source.filter_subject!r}: use another NATS_DURABLE, or delete it"
            ) from None
        logger.warning(
            "The durable consumer %r of %r exists with another configuration (%s); using it",
            source.durable,
            source.stream,
            exc.description or exc,
        )

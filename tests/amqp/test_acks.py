"""Batched acknowledgements: which tags go out, when, and never an unfinished one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from doozer import Application
from doozer.amqp import AMQP, Message
from doozer.amqp._session import Session

from .support import Broker, run_app, stop_soon


class Recorder:
    """An aiormq channel stand-in that records what would go to the broker."""

    def __init__(self, slow: bool = False) -> None:
        self.is_closed = False
        self.slow = slow  # each ack waits for the write, as aiormq's does
        self.sent: list[tuple[str, int, bool]] = []

    async def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        self.sent.append(("ack", delivery_tag, multiple))
        if self.slow:
            await asyncio.sleep(0.01)

    async def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True
    ) -> None:
        self.sent.append(("nack", delivery_tag, requeue))

    async def basic_reject(self, delivery_tag: int, *, requeue: bool = True) -> None:
        self.sent.append(("reject", delivery_tag, requeue))


def session(batch_size: int = 4, interval: float = 60.0, tags: int = 8) -> tuple[Session, Recorder]:
    channel = Recorder()
    made = Session(channel, 1, batch_size, interval)
    for tag in range(1, tags + 1):
        made.delivered(tag)
    return made, channel


async def test_a_full_batch_of_contiguous_tags_is_one_multiple_ack() -> None:
    made, channel = session(batch_size=4)
    for tag in (2, 1, 4):
        await made.ack(tag)
    assert channel.sent == []  # 3 < 4: waiting for the batch
    await made.ack(3)
    assert channel.sent == [("ack", 4, True)]
    assert made.owed == 0


async def test_a_tag_after_an_unfinished_one_is_acknowledged_alone() -> None:
    made, channel = session(batch_size=3)
    # Tag 2 is still being processed: 1 is covered by a multiple ack, 3 and
    # 4 only one by one, never with multiple=True over 2.
    for tag in (1, 3, 4):
        await made.ack(tag)
    assert channel.sent == [("ack", 1, False), ("ack", 3, False), ("ack", 4, False)]
    await made.ack(2)
    await made.flush()
    assert channel.sent[-1] == ("ack", 2, False)


async def test_never_a_multiple_ack_over_an_unfinished_tag() -> None:
    made, channel = session(batch_size=5, tags=20)
    unfinished = {7, 13}
    for tag in range(1, 21):
        if tag not in unfinished:
            await made.ack(tag)
    await made.flush()
    acknowledged: set[int] = set()
    for kind, tag, multiple in channel.sent:
        assert kind == "ack"
        covered = set(range(1, tag + 1)) - acknowledged if multiple else {tag}
        assert not covered & unfinished, (tag, multiple)
        acknowledged |= covered
    assert acknowledged == set(range(1, 21)) - unfinished


async def test_concurrent_flushes_never_acknowledge_a_tag_twice() -> None:
    channel = Recorder(slow=True)
    made = Session(channel, 1, 100, 60.0)
    for tag in range(1, 11):
        made.delivered(tag)
    for tag in (1, 2, 4, 5):  # 3 unfinished: 4 and 5 go one by one, slowly
        await made.ack(tag)
    first = asyncio.create_task(made.flush())
    await asyncio.sleep(0.005)  # the first flush is waiting on its first write
    for tag in (3, 6, 7):
        await made.ack(tag)
    await asyncio.gather(first, made.flush())
    acknowledged: list[int] = []
    for _, tag, multiple in channel.sent:
        covered = [t for t in range(1, tag + 1) if t not in acknowledged] if multiple else [tag]
        assert tag not in acknowledged, channel.sent
        acknowledged += covered
    assert sorted(acknowledged) == list(range(1, 8))
    assert len(acknowledged) == len(set(acknowledged))


async def test_the_interval_flushes_a_partial_batch() -> None:
    made, channel = session(batch_size=10, interval=0.05)
    await made.ack(1)
    await made.ack(2)
    assert channel.sent == []
    await asyncio.sleep(0.2)
    assert channel.sent == [("ack", 2, True)]


async def test_nacks_and_rejects_go_at_once_and_do_not_block_the_run() -> None:
    made, channel = session(batch_size=3)
    await made.ack(1)
    await made.nack(2, requeue=True)
    await made.reject(3)
    assert channel.sent == [("nack", 2, True), ("reject", 3, False)]
    await made.ack(4)
    await made.ack(5)
    # 2 and 3 are settled already: 1..5 is one contiguous finished run.
    assert channel.sent[-1] == ("ack", 5, True)


async def test_batch_size_one_acknowledges_each_at_once() -> None:
    made, channel = session(batch_size=1)
    await made.ack(2)
    await made.ack(1)
    assert channel.sent == [("ack", 2, False), ("ack", 1, False)]


async def test_closing_flushes_and_then_refuses() -> None:
    made, channel = session(batch_size=10)
    await made.ack(1)
    await made.close()
    assert channel.sent == [("ack", 1, False)]
    assert made.stale
    with pytest.raises(ConnectionError):
        await made.ack(2)


async def test_a_closed_channel_is_not_written_to() -> None:
    made, channel = session(batch_size=10)
    await made.ack(1)
    channel.is_closed = True
    await made.close()
    assert channel.sent == []


@pytest.mark.parametrize("batch_size", [1, 32])
def test_every_message_is_acknowledged_by_teardown(broker: Broker, batch_size: int) -> None:
    broker.declare_inbound(broker.name())
    total = 200
    broker.publish(broker.name(), [str(n).encode() for n in range(total)])
    seen: list[int] = []

    async def process(app: Application, message: Message) -> None:
        seen.append(int(message.body))
        if len(seen) == total:
            stop_soon(app)

    app = Application(
        broker.name("-app"),
        {
            "AMQP_URL": broker.url,
            "AMQP_INBOUND_QUEUE": broker.name(),
            "AMQP_PREFETCH_COUNT": 64,
            "AMQP_ACK_BATCH_SIZE": batch_size,
            # Longer than the run: only full batches and teardown send acks.
            "AMQP_ACK_BATCH_INTERVAL": 60,
        },
        callback=process,
    )
    amqp = AMQP(app)
    app.consumer = amqp.consumer()
    run_app(app, workers=8)
    assert sorted(seen) == list(range(total))
    assert broker.counts(broker.name()) == (0, 0)  # acknowledged, none left unacked


def settings_of(**values: Any) -> dict[str, Any]:
    return {"AMQP_INBOUND_QUEUE": "jobs", **values}


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (True, ValueError), ("8", ValueError)]
)
def test_bad_batch_sizes_are_refused(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="AMQP_ACK_BATCH_SIZE"):
        AMQP(Application("acks", settings_of(AMQP_ACK_BATCH_SIZE=value)))

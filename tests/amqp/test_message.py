"""What a Message reads from a delivery's headers (no broker needed)."""

from __future__ import annotations

from typing import Any

import pytest
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from doozer.amqp import ATTEMPT_HEADER, FIRST_FAILURE_HEADER, RETRY_HEADER, Message
from doozer.types import is_delivery


class NoSession:
    stale = False


def message(headers: dict[str, Any] | None, **properties: Any) -> Message:
    delivered = DeliveredMessage(
        delivery=Basic.Deliver(
            consumer_tag="c", delivery_tag=7, redelivered=True, exchange="ex", routing_key="rk"
        ),
        header=ContentHeader(properties=Basic.Properties(headers=headers, **properties)),
        body=b"body",
        channel=None,  # type: ignore[arg-type]
    )

    async def settle(message: Message, outcome: Any) -> None: ...

    return Message(delivered, NoSession(), settle)  # type: ignore[arg-type]


def test_a_first_delivery() -> None:
    read = message(None, correlation_id="c-1", content_type="text/plain", message_id="m")
    assert is_delivery(read)
    assert (read.attempt, read.first_failure) == (1, None)
    assert read.headers == {}
    assert (read.body, read.routing_key, read.exchange, read.delivery_tag) == (
        b"body",
        "rk",
        "ex",
        7,
    )
    assert read.redelivered
    assert (read.correlation_id, read.content_type, read.message_id) == ("c-1", "text/plain", "m")


def test_a_retried_delivery() -> None:
    read = message({ATTEMPT_HEADER: "3", FIRST_FAILURE_HEADER: "1700000000.25"})
    assert (read.attempt, read.first_failure) == (3, 1700000000.25)


def test_a_delivery_retried_by_doozer_amqp_2_0() -> None:
    read = message({RETRY_HEADER: {"count": 2, "start_time": "1700000000.5", "delay": "1.0"}})
    assert (read.attempt, read.first_failure) == (3, 1700000000.5)


@pytest.mark.parametrize("value", ["three", "", None, {"a": 1}])
def test_a_malformed_attempt_counts_as_a_first_attempt(value: Any) -> None:
    read = message({ATTEMPT_HEADER: value})
    assert (read.attempt, read.first_failure) == (1, None)


def test_a_copy_keeps_the_properties_and_takes_new_headers() -> None:
    read = message({"a": "1"}, correlation_id="c-1", reply_to="back", app_id="app")
    copy = read.copy({"b": "2"})
    assert copy.headers == {"b": "2"}
    assert (copy.correlation_id, copy.reply_to, copy.app_id) == ("c-1", "back", "app")
    assert copy.body == b"body"

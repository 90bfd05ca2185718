"""A service's tests with doozer.testing: no broker needed."""

from __future__ import annotations

import json
from typing import Any

from doozer import Abort, Application
from doozer.contrib.retry import Retry, RetryableException
from doozer.outcomes import SUCCEEDED, Aborted, Failed
from doozer.testing import run_until_drained


async def process(app: Application, message: Any) -> list[dict[str, Any]]:
    order = json.loads(message.body)
    if order["qty"] == 0:
        raise Abort("order.empty", message)
    if order.get("warehouse") == "busy":
        raise RetryableException("the warehouse is busy")
    return [{"order": order["id"], "status": "accepted"}]


def make_app() -> Application:
    app = Application("orders", callback=process)
    Retry(app, threshold=3, delay=60, backoff=2)
    return app


def test_orders_are_accepted_skipped_or_dead_lettered() -> None:
    report = run_until_drained(
        make_app(),
        [
            b'{"id": 1, "qty": 2}',
            b'{"id": 2, "qty": 0}',
            b"not json",
            b'{"id": 4, "qty": 1, "warehouse": "busy"}',
        ],
    )
    accepted, empty, broken, busy = report.outcomes
    assert accepted is SUCCEEDED
    assert empty == Aborted("order.empty")
    assert isinstance(broken, Failed)
    assert report.records[2].state == "dead_lettered"
    # Retried three times, 60, 120 and 240 s apart (on the virtual clock), then dead-lettered.
    assert isinstance(busy, Failed)
    record = report.records[3]
    retries = [e.detail for e in record.events if e.kind == "retried"]
    assert retries == [60, 120, 240]
    assert [o.name for o in record.outcomes] == ["retry_later"] * 3 + ["failed"]
    assert record.kinds() == [
        "published", "delivered", "retried", "delivered", "retried",
        "delivered", "retried", "delivered", "dead_lettered",
    ]  # fmt: skip

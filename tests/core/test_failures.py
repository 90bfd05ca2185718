"""Unhandled exceptions stop the application gracefully and are re-raised."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from doozer import Application

from .support import ListConsumer


class BoomError(Exception):
    pass


def build(messages: list[Any], num_fail_at: Any, where: str) -> tuple[Application, dict[str, Any]]:
    """An app over *messages* whose *where* hook raises BoomError on message *num_fail_at*."""
    record: dict[str, Any] = {"handled": [], "acknowledged": [], "errors": [], "teardown": 0}

    async def callback(app: Application, message: Any) -> list[Any]:
        await asyncio.sleep(0)
        record["handled"].append(message)
        return [message]

    app = Application("failing", consumer=ListConsumer(messages), callback=callback)

    @app.result_postprocessor
    async def postprocess(app: Application, result: Any) -> Any:
        if where == "postprocessor" and result == num_fail_at:
            raise BoomError(f"postprocessing {result}")
        return result

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: Any) -> None:
        if where == "acknowledgement" and message == num_fail_at:
            raise BoomError(f"acknowledging {message}")
        record["acknowledged"].append(message)

    @app.teardown
    async def teardown(app: Application) -> None:
        record["teardown"] += 1

    return app, record


@pytest.mark.parametrize("where", ["postprocessor", "acknowledgement"])
@pytest.mark.parametrize("num_workers", [1, 4])
def test_unhandled_exception_stops_reading_drains_and_reraises(
    where: str, num_workers: int, caplog: pytest.LogCaptureFixture
) -> None:
    app, record = build(list(range(1000)), 3, where)
    with pytest.raises(BoomError, match="3"):
        app.run_forever(num_workers=num_workers)
    consumer = app.consumer
    assert isinstance(consumer, ListConsumer)
    # It stopped early: only messages read ahead of the failure were read.
    assert consumer.read_count <= 3 + 2 * num_workers + 1
    # Every message read other than the failed one finished and was acknowledged.
    assert sorted(record["acknowledged"]) == [m for m in range(consumer.read_count) if m != 3]
    assert record["teardown"] == 1
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "not acknowledged" in failures[0].getMessage()


def test_error_callback_exception_is_unhandled() -> None:
    async def callback(app: Application, message: Any) -> None:
        raise ValueError(message)

    app = Application("svc", consumer=ListConsumer([1, 2, 3]), callback=callback)
    acknowledged: list[Any] = []

    @app.error
    async def broken_handler(app: Application, message: Any, exc: Exception) -> None:
        raise RuntimeError("the error handler failed")

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: Any) -> None:
        acknowledged.append(message)

    with pytest.raises(RuntimeError, match="the error handler failed"):
        app.run_forever()
    assert 1 not in acknowledged


def test_consumer_exception_stops_and_reraises_after_draining() -> None:
    class FlakyConsumer:
        def __init__(self) -> None:
            self.count = 0

        async def read(self) -> int:
            self.count += 1
            if self.count == 5:
                raise ConnectionError("lost the broker")
            return self.count

    acknowledged: list[int] = []

    async def callback(app: Application, message: int) -> None:
        await asyncio.sleep(0.01)

    app = Application("svc", consumer=FlakyConsumer(), callback=callback)

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: int) -> None:
        acknowledged.append(message)

    with pytest.raises(ConnectionError, match="lost the broker"):
        app.run_forever(num_workers=2)
    assert sorted(acknowledged) == [1, 2, 3, 4]


def test_startup_failure_skips_consumption_but_runs_teardown() -> None:
    consumer = ListConsumer([1])
    events: list[str] = []

    async def callback(app: Application, message: Any) -> None:
        events.append("callback")

    app = Application("svc", consumer=consumer, callback=callback)

    @app.startup
    async def connect(app: Application) -> None:
        raise OSError("database unreachable")

    @app.teardown
    async def disconnect(app: Application) -> None:
        events.append("teardown")

    with pytest.raises(OSError, match="database unreachable"):
        app.run_forever()
    assert events == ["teardown"]
    assert consumer.read_count == 0


def test_every_teardown_runs_even_when_one_fails() -> None:
    events: list[str] = []

    async def callback(app: Application, message: Any) -> None: ...

    app = Application("svc", consumer=ListConsumer([]), callback=callback)

    @app.teardown
    async def first(app: Application) -> None:
        raise OSError("close failed")

    @app.teardown
    async def second(app: Application) -> None:
        events.append("second")

    with pytest.raises(OSError, match="close failed"):
        app.run_forever()
    assert events == ["second"]


def test_a_failed_startup_is_one_log_line_and_the_traceback_is_in_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from doozer.testing import MemoryQueue

    async def callback(app: Application, message: object) -> None: ...

    app = Application("svc", consumer=MemoryQueue(), callback=callback)

    @app.startup
    async def connect(app: Application) -> None:
        raise ConnectionRefusedError("the broker at amqp://guest:***@nowhere/ refused")

    with caplog.at_level("DEBUG", logger="svc"), pytest.raises(ConnectionRefusedError):
        app.run_forever()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        "Startup failed: ConnectionRefusedError: the broker at amqp://guest:***@nowhere/ refused"
    ]
    assert errors[0].exc_info is None
    assert any(r.levelname == "DEBUG" and r.exc_info for r in caplog.records)

"""JSON logs in-process: the format, the message context, trace ids, Doozer's own records."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import pytest
import structlog

from doozer import Application
from doozer.contrib.logging import Logging, context_of
from doozer.contrib.otel import OpenTelemetry
from doozer.outcomes import Outcome
from doozer.testing import MemoryQueue, run_until_drained

from ..otel.support import Described, DescribedQueue, Telemetry


def lines(text: str) -> list[dict[str, Any]]:
    """Every line of *text* as a JSON object (fails on any line that is not one)."""
    records = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(record, dict) for record in records)
    return records


def test_every_record_is_one_json_object_with_the_message_context_and_trace_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry = Telemetry()

    async def callback(app: Application, message: Any) -> None:
        structlog.get_logger("orders").info("processing", size=len(message.body))
        app.logger.warning("stdlib says %s", "hello")
        if message.body == b"bad":
            raise ValueError("bad order")

    app = Application("logged", {"LOG_FORMAT": "json"}, callback=callback)
    OpenTelemetry(
        app, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    Logging(app)
    run_until_drained(app, DescribedQueue([b"good", b"bad"]))
    telemetry.shutdown()
    out = capsys.readouterr().out
    records = lines(out)
    spans = {f"{s.context.trace_id:032x}": s for s in telemetry.spans()}

    for record in records:
        assert set(record) >= {"timestamp", "level", "logger", "event"}
        stamp = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
        assert stamp.utcoffset() == timezone.utc.utcoffset(None)

    processing = [r for r in records if r["event"] == "processing"]
    stdlib = [r for r in records if r["event"] == "stdlib says hello"]
    assert len(processing) == len(stdlib) == 2
    for record, number in zip(processing, (0, 1), strict=True):
        assert record["logger"] == "orders"
        assert record["level"] == "info"
        assert record["message_id"] == f"m-{number}"
        assert record["destination"] == "orders"
        assert record["attempt"] == 1
        span = spans[record["trace_id"]]
        assert record["span_id"] == f"{span.context.span_id:016x}"
    assert {r["logger"] for r in stdlib} == {"logged"}
    assert [r["message_id"] for r in stdlib] == ["m-0", "m-1"]

    (error,) = [r for r in records if r["level"] == "error"]
    assert error["message_id"] == "m-1"
    assert error["event"].startswith("Error processing message")
    (exception,) = error["exception"]
    assert exception["exc_type"] == "ValueError"
    assert exception["exc_value"] == "bad order"
    assert exception["frames"]
    assert all("locals" not in frame for frame in exception["frames"])

    started = next(r for r in records if r["event"].startswith("Started 'logged'"))
    stopped = next(r for r in records if r["event"].startswith("Stopped 'logged'"))
    for record in (started, stopped):
        assert record["logger"] == "logged"
        assert "message_id" not in record  # nothing of a message leaks out of it


def test_records_of_the_settlement_carry_the_message_but_not_its_ended_span(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry = Telemetry()

    async def callback(app: Application, message: Any) -> None:
        pass

    app = Application("settled", {"LOG_FORMAT": "json"}, callback=callback)
    OpenTelemetry(
        app, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    Logging(app)

    @app.message_outcome
    async def report(app: Application, message: Any, outcome: Outcome) -> None:
        structlog.get_logger("outcomes").info("settled", outcome=outcome.name)

    run_until_drained(app, DescribedQueue([b"one"]))
    telemetry.shutdown()
    (record,) = [r for r in lines(capsys.readouterr().out) if r["event"] == "settled"]
    assert record["message_id"] == "m-0"
    assert record["destination"] == "orders"
    assert "trace_id" not in record  # the message's span ended when it was processed


def test_the_console_format_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    app = Application("console", {"LOG_LEVEL": "debug"})
    Logging(app)
    structlog.get_logger("mine").debug("hello", answer=42)
    logging.getLogger("theirs").info("from %s", "stdlib")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "hello" in captured.err
    assert "answer=42" in captured.err
    assert "from stdlib" in captured.err


def test_the_level_filters_records(capsys: pytest.CaptureFixture[str]) -> None:
    Logging(Application("quiet", {"LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}))
    structlog.get_logger().info("hidden")
    logging.getLogger("x").info("hidden too")
    structlog.get_logger().warning("shown")
    assert [r["event"] for r in lines(capsys.readouterr().out)] == ["shown"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT 'xml' is not a log format: use 'json' or 'console'"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL 'LOUD' is not a logging level: use DEBUG, INFO"),
    ],
)
def test_bad_settings_are_one_clear_line(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")) as info:
        Logging(Application("bad", settings))
    assert "\n" not in str(info.value)


def test_context_of_a_plain_message_is_empty() -> None:
    assert context_of(object()) == {}


def test_one_extension_per_application() -> None:
    app = Application("once")
    Logging(app)
    with pytest.raises(RuntimeError, match="already initialized"):
        Logging(app)


class Watched(Described):
    """A described delivery that counts how often its context is read."""

    reads = 0

    def __getattribute__(self, name: str) -> Any:
        if name == "messaging_attributes":
            self.reads += 1
        return super().__getattribute__(name)


class WatchedQueue(MemoryQueue):
    """A memory queue of :class:`Watched` deliveries, kept for the test to look at."""

    def __init__(self, messages: list[bytes]) -> None:
        super().__init__(messages)
        self.watched: list[Watched] = []

    async def read(self) -> Watched:  # type: ignore[override]  # a delivery that wraps one
        delivery = Watched(await super().read(), {"messaging.destination.name": "watched"})
        self.watched.append(delivery)
        return delivery


def test_the_context_is_worked_out_only_for_records_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def callback(app: Application, message: Any) -> None:
        structlog.get_logger().info("filtered out")
        logging.getLogger("stdlib").info("filtered out too")
        if message.body == b"loud":
            structlog.get_logger().warning("written", destination="mine")

    app = Application("lazy", {"LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}, callback=callback)
    Logging(app)
    queue = WatchedQueue([b"quiet", b"loud"])
    run_until_drained(app, queue)
    quiet, loud = queue.watched
    assert quiet.reads == 0  # nothing written: the message's context never read
    assert loud.reads == 1
    (record,) = lines(capsys.readouterr().out)
    assert record["event"] == "written"
    assert record["message_id"] == "m-1"
    assert record["destination"] == "mine"  # what the record says wins over the context

"""The consumer span of each message, its context, and how it ends (doozer.testing, no broker)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from doozer import Abort, Application
from doozer.contrib.otel import UNFINISHED, OpenTelemetry
from doozer.contrib.retry import Retry, RetryableException
from doozer.outcomes import SUCCEEDED, Aborted, Failed, Outcome, Unfinished
from doozer.testing import MemoryQueue, run_until_drained

from .support import ATTRIBUTES, DescribedQueue, Telemetry

#: A W3C traceparent, as an upstream producer would have sent it.
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"


def traced(telemetry: Telemetry, callback: Any, **settings: Any) -> Application:
    app = Application("traced", settings, callback=callback)
    OpenTelemetry(
        app,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    return app


async def succeed(app: Application, message: Any) -> None:
    return None


def test_one_consumer_span_per_message_with_the_conventions_attributes(
    telemetry: Telemetry,
) -> None:
    app = traced(telemetry, succeed)
    report = run_until_drained(app, DescribedQueue([b"a", b"b"]))
    assert report.outcomes == [SUCCEEDED, SUCCEEDED]
    spans = telemetry.spans()
    assert [s.name for s in spans] == ["process orders", "process orders"]
    for number, span in enumerate(spans):
        assert span.kind is SpanKind.CONSUMER
        assert span.status.status_code is StatusCode.UNSET
        assert dict(span.attributes or {}) == {
            **ATTRIBUTES,
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.message.id": f"m-{number}",
            "doozer.message.attempt": 1,
        }  # no doozer.outcome: a span without one succeeded
        assert span.parent is None  # no traceparent header: a new trace each
    assert spans[0].context.trace_id != spans[1].context.trace_id


def test_the_parent_comes_from_the_traceparent_and_tracestate_headers(
    telemetry: Telemetry,
) -> None:
    queue = DescribedQueue()
    queue.put(b"a", {"traceparent": TRACEPARENT, "tracestate": "vendor=1"})
    queue.put(b"b", {"traceparent": TRACEPARENT.encode()})  # as some brokers return it
    queue.put(b"c", {"traceparent": "garbage"})
    run_until_drained(traced(telemetry, succeed), queue)
    first, second, third = telemetry.spans()
    for span in (first, second):
        assert span.context.trace_id == TRACE_ID
        assert span.parent is not None
        assert span.parent.span_id == PARENT_ID
        assert span.parent.is_remote
    assert first.context.trace_state.to_header() == "vendor=1"
    assert third.parent is None  # an unreadable header starts a new trace


def test_the_span_is_current_in_every_stage_and_never_leaks(telemetry: Telemetry) -> None:
    seen: dict[str, list[int]] = {}

    def note(stage: str) -> None:
        seen.setdefault(stage, []).append(trace.get_current_span().get_span_context().span_id)

    async def preprocess(app: Application, message: Any) -> Any:
        note("preprocessor")
        return message

    async def callback(app: Application, message: Any) -> list[bytes]:
        note("callback")
        return [b"result"]

    async def postprocess(app: Application, result: Any) -> Any:
        note("postprocessor")
        return result

    async def acknowledge(app: Application, message: Any) -> None:
        note("acknowledgement")

    async def settled(app: Application, message: Any, outcome: Outcome) -> None:
        note("outcome")

    app = traced(telemetry, callback)
    app.message_preprocessor(preprocess)
    app.result_postprocessor(postprocess)
    app.message_acknowledgement(acknowledge)
    app.message_outcome(settled)
    run_until_drained(app, DescribedQueue([b"a", b"b"]))
    ids = [span.context.span_id for span in telemetry.spans()]
    for stage in ("preprocessor", "callback", "postprocessor", "acknowledgement"):
        assert seen[stage] == ids, stage
    # After the wrapper returned, nothing of the message is current any more.
    assert seen["outcome"] == [0, 0]
    assert not trace.get_current_span().get_span_context().is_valid


def test_a_failed_message_ends_its_span_with_the_error(telemetry: Telemetry) -> None:
    async def fail(app: Application, message: Any) -> None:
        raise ValueError("no such order")

    report = run_until_drained(traced(telemetry, fail), DescribedQueue([b"a"]))
    assert isinstance(report.outcomes[0], Failed)
    (span,) = telemetry.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: no such order"
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ValueError"
    assert span.attributes["doozer.outcome"] == "failed"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"


def test_an_aborted_message_is_no_error(telemetry: Telemetry) -> None:
    async def skip(app: Application, message: Any) -> None:
        raise Abort("not ours", message)

    report = run_until_drained(traced(telemetry, skip), DescribedQueue([b"a"]))
    assert isinstance(report.outcomes[0], Aborted)
    (span,) = telemetry.spans()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["doozer.outcome"] == "aborted"
    assert span.attributes["doozer.abort.reason"] == "not ours"
    assert "error.type" not in span.attributes


def test_a_retried_attempt_is_an_error_and_each_attempt_has_its_span(
    telemetry: Telemetry,
) -> None:
    calls = 0

    async def flaky(app: Application, message: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RetryableException("busy")

    app = traced(telemetry, flaky)
    Retry(app, delay=5)
    queue = DescribedQueue()
    queue.put(b"a", {"traceparent": TRACEPARENT})
    report = run_until_drained(app, queue)
    assert report.outcomes == [SUCCEEDED]
    first, second = telemetry.spans()
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes is not None
    assert first.attributes["doozer.outcome"] == "retry_later"
    assert first.attributes["error.type"] == "doozer.contrib.retry.RetryableException"
    assert first.attributes["doozer.retry.attempt"] == 2
    assert first.attributes["doozer.retry.delay"] == 5.0
    assert second.status.status_code is StatusCode.UNSET
    assert second.attributes is not None
    assert second.attributes["doozer.message.attempt"] == 2
    # The retry carries the message's headers: both attempts are in the same trace.
    assert {first.context.trace_id, second.context.trace_id} == {TRACE_ID}


async def test_a_message_a_stop_leaves_unfinished_is_an_error(telemetry: Telemetry) -> None:
    import asyncio

    started = asyncio.Event()

    async def hang(app: Application, message: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    app = traced(telemetry, hang)
    queue = MemoryQueue([b"a"])
    app.consumer = queue
    task = asyncio.ensure_future(app.serve())
    await started.wait()
    task.cancel()  # a forced stop
    with pytest.raises(asyncio.CancelledError):
        await task
    assert isinstance(queue.records[0].outcome, Unfinished)
    (span,) = telemetry.spans()
    assert span.name == "process"  # a memory delivery names no destination
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "asyncio.exceptions.CancelledError"
    assert UNFINISHED == "doozer.unfinished"


def test_plain_messages_get_root_spans(telemetry: Telemetry) -> None:
    class Plain:
        def __init__(self) -> None:
            self.messages = [1, 2]

        async def read(self) -> int:
            if not self.messages:
                raise Abort("done", None)
            return self.messages.pop(0)

    app = traced(telemetry, succeed)
    app.consumer = Plain()
    app.run_forever()
    spans = telemetry.spans()
    assert [s.name for s in spans] == ["process", "process"]
    assert all(s.parent is None for s in spans)


def test_one_extension_per_application(telemetry: Telemetry) -> None:
    app = traced(telemetry, succeed)
    with pytest.raises(RuntimeError, match="already initialized"):
        OpenTelemetry(app)
    extension = OpenTelemetry()
    extension.init_app(Application("other"))
    with pytest.raises(RuntimeError, match="already initialized"):
        extension.init_app(Application("third"))

"""Every message gets exactly one outcome; every delivery is settled once, after acknowledgement."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from doozer import Abort, Application
from doozer.outcomes import SUCCEEDED, Aborted, Failed, Outcome, RetryLater, Unfinished
from doozer.testing import MemoryDelivery, MemoryQueue, run_until_drained, serve_until_drained
from doozer.types import Delivery, is_delivery

from .support import ListConsumer


async def by_body(app: Application, message: MemoryDelivery) -> list[Any]:
    """Succeed, abort or fail according to the body."""
    if message.body == "abort":
        raise Abort("told.to", message)
    if message.body == "fail":
        raise ValueError("told to fail")
    return [message.body]


def test_each_path_has_its_outcome_and_broker_action() -> None:
    app = Application("svc", callback=by_body)
    report = run_until_drained(app, ["ok", "abort", "fail"])
    ok, aborted, failed = report.outcomes
    assert ok is SUCCEEDED
    assert aborted == Aborted("told.to")
    assert isinstance(failed, Failed)
    assert isinstance(failed.exception, ValueError)
    assert [r.state for r in report.records] == ["acknowledged", "acknowledged", "dead_lettered"]
    assert report.records[2].events[-1].detail == "ValueError: told to fail"
    assert report.count() == {"succeeded": 1, "aborted": 1, "failed": 1}


async def test_memory_deliveries_follow_the_protocol() -> None:
    delivery = await MemoryQueue(["x"]).read()
    assert isinstance(delivery, Delivery)
    assert is_delivery(delivery)
    assert not is_delivery("x")
    assert not is_delivery(ListConsumer([]))


def test_settled_after_the_acknowledgement_callbacks_and_before_outcome_callbacks() -> None:
    app = Application("svc", callback=by_body)
    seen: list[tuple[str, str]] = []

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: MemoryDelivery) -> None:
        seen.append(("acknowledgement", message.record.state))

    @app.message_outcome
    async def outcome(app: Application, message: MemoryDelivery, outcome: Outcome) -> None:
        seen.append(("outcome", message.record.state))

    run_until_drained(app, ["ok"])
    assert seen == [("acknowledgement", "delivered"), ("outcome", "acknowledged")]


def test_outcome_callbacks_see_plain_messages_too() -> None:
    seen: list[tuple[Any, Outcome]] = []

    async def callback(app: Application, message: Any) -> None:
        if message == 2:
            raise RuntimeError("two")

    app = Application("svc", consumer=ListConsumer([1, 2, 3]), callback=callback)

    @app.error
    async def quiet(app: Application, message: Any, exc: Exception) -> None: ...

    @app.message_outcome
    async def record(app: Application, message: Any, outcome: Outcome) -> None:
        seen.append((message, outcome))

    app.run_forever()
    assert [m for m, _ in seen] == [1, 2, 3]
    assert seen[0][1] is SUCCEEDED
    assert isinstance(seen[1][1], Failed)


def test_a_failure_policy_decides_and_error_callbacks_do_not_run() -> None:
    app = Application("svc", callback=by_body)
    errors: list[Exception] = []

    @app.failure_policy
    async def once_later(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        if original.attempt == 1:
            return RetryLater(2.5, 2, exc, 100.0)
        return None

    @app.error
    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        errors.append(exc)

    report = run_until_drained(app, ["fail"])
    record = report.records[0]
    assert [o.name for o in record.outcomes] == ["retry_later", "failed"]
    assert record.kinds() == [
        "published", "delivered", "retried", "delivered", "dead_lettered"
    ]  # fmt: skip
    assert record.events[2].detail == 2.5
    assert record.events[3].time - record.events[2].time == pytest.approx(2.5)
    assert len(errors) == 1  # only for the final failure


def test_the_first_policy_with_an_answer_wins_by_order() -> None:
    app = Application("svc", callback=by_body)
    asked: list[str] = []

    async def abstain(app: Application, original: Any, message: Any, exc: Exception) -> None:
        asked.append("abstain")

    async def decide(app: Application, original: Any, message: Any, exc: Exception) -> Outcome:
        asked.append("decide")
        return Aborted("decided")

    async def never(app: Application, original: Any, message: Any, exc: Exception) -> None:
        asked.append("never")

    app.failure_policy(never, order=5)
    app.failure_policy(decide)
    app.failure_policy(abstain, order=-5)
    assert run_until_drained(app, ["fail"]).outcomes == [Aborted("decided")]
    assert asked == ["abstain", "decide"]


def test_a_policy_that_returns_no_outcome_stops_the_application() -> None:
    app = Application("svc", callback=by_body)

    @app.failure_policy
    async def wrong(app: Application, original: Any, message: Any, exc: Exception) -> Any:
        return "later"

    with pytest.raises(TypeError, match=r"failure policy .*wrong.* must return an Outcome"):
        run_until_drained(app, ["fail"])


def test_an_unhandled_exception_leaves_the_message_unfinished_and_returned() -> None:
    app = Application("svc", callback=by_body)

    @app.result_postprocessor
    async def broken(app: Application, result: Any) -> Any:
        raise KeyError("postprocessing")

    queue = MemoryQueue(["ok"])
    with pytest.raises(KeyError, match="postprocessing"):
        run_until_drained(app, queue)
    (record,) = queue.records
    assert isinstance(record.outcome, Unfinished)
    assert isinstance(record.outcome.exception, KeyError)
    assert record.state == "returned"


class TestWrappers:
    def test_nest_by_order_and_see_the_outcome(self) -> None:
        app = Application("svc", callback=by_body)
        trail: list[str] = []

        def make(name: str) -> Any:
            async def wrapper(app: Application, message: Any, process: Any) -> Outcome:
                trail.append(f"{name} in")
                outcome: Outcome = await process()
                trail.append(f"{name} out {outcome.name}")
                return outcome

            return wrapper

        app.message_wrapper(make("inner"), order=10)
        app.message_wrapper(make("outer"), order=-10)

        @app.message_preprocessor
        async def pre(app: Application, message: Any) -> Any:
            trail.append("preprocess")
            return message

        run_until_drained(app, ["ok"])
        assert trail == [
            "outer in", "inner in", "preprocess", "inner out succeeded", "outer out succeeded"
        ]  # fmt: skip

    def test_something_set_by_a_wrapper_is_current_in_the_callbacks(self) -> None:
        import contextvars

        current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")
        seen: list[str] = []

        async def callback(app: Application, message: Any) -> None:
            seen.append(current.get())

        app = Application("svc", callback=callback)

        @app.message_acknowledgement
        async def acknowledge(app: Application, message: Any) -> None:
            seen.append(current.get())

        @app.message_wrapper
        async def span(app: Application, message: Any, process: Any) -> Outcome:
            token = current.set(f"span {message.body}")
            try:
                outcome: Outcome = await process()
                return outcome
            finally:
                current.reset(token)

        run_until_drained(app, ["a"])
        assert seen == ["span a", "span a"]

    def test_a_wrapper_may_skip_processing_and_the_delivery_is_still_settled(self) -> None:
        processed: list[Any] = []

        async def callback(app: Application, message: Any) -> None:
            processed.append(message.body)

        app = Application("svc", callback=callback)

        @app.message_wrapper
        async def skip_stale(app: Application, message: Any, process: Any) -> Outcome:
            if message.body == "stale":
                return Aborted("stale")
            outcome: Outcome = await process()
            return outcome

        report = run_until_drained(app, ["fresh", "stale"])
        assert processed == ["fresh"]
        assert report.outcomes == [SUCCEEDED, Aborted("stale")]

    def test_a_wrapper_must_return_an_outcome(self) -> None:
        app = Application("svc", callback=by_body)

        @app.message_wrapper
        async def forgetful(app: Application, message: Any, process: Any) -> None:
            await process()

        with pytest.raises(TypeError, match=r"message wrapper .*forgetful.* must return"):
            run_until_drained(app, ["ok"])


async def test_a_forced_stop_returns_in_flight_and_unstarted_deliveries_once() -> None:
    started = asyncio.Event()

    async def hang(app: Application, message: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    app = Application("svc", callback=hang)
    outcomes: list[Outcome] = []

    @app.message_outcome
    async def collect(app: Application, message: Any, outcome: Outcome) -> None:
        outcomes.append(outcome)

    queue = MemoryQueue(range(10))
    task = asyncio.ensure_future(serve_until_drained(app, queue, num_workers=2))
    await started.wait()
    await asyncio.sleep(0.05)  # let the reader fill the read-ahead
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    delivered = [r for r in queue.records if "delivered" in r.kinds()]
    # 2 in flight + at most 2 read ahead + 1 held by the reader: all handed back, once each.
    assert 2 < len(delivered) <= 5
    for record in delivered:
        assert record.kinds() == ["published", "delivered", "returned"]
        assert isinstance(record.outcome, Unfinished)
    assert len(outcomes) == len(delivered)
    for record in queue.records:
        if record not in delivered:
            assert record.kinds() == ["published"]


class TestObservers:
    @pytest.mark.parametrize("wrapped", [False, True], ids=["inline", "wrapped"])
    def test_see_each_message_once_with_a_duration_before_outcome_callbacks(
        self, wrapped: bool
    ) -> None:
        async def slow(app: Application, message: Any) -> None:
            await asyncio.sleep(0.05 if message.body == "slow" else 0)
            if message.body == "bad":
                raise ValueError("bad")

        app = Application("svc", callback=slow)
        seen: list[tuple[str, str, float]] = []

        @app.message_observer
        def observe(app: Application, message: Any, outcome: Outcome, duration: float) -> None:
            assert message.record.state != "delivered"  # settled already
            seen.append((message.body, outcome.name, duration))

        @app.message_outcome
        async def after(app: Application, message: Any, outcome: Outcome) -> None:
            seen.append((message.body, "outcome callback", 0.0))

        if wrapped:

            @app.message_wrapper
            async def through(app: Application, message: Any, process: Any) -> Outcome:
                outcome: Outcome = await process()
                return outcome

        run_until_drained(app, ["fast", "slow", "bad"])
        assert [(body, name) for body, name, _ in seen] == [
            ("fast", "succeeded"), ("fast", "outcome callback"),
            ("slow", "succeeded"), ("slow", "outcome callback"),
            ("bad", "failed"), ("bad", "outcome callback"),
        ]  # fmt: skip
        durations = {body: duration for body, name, duration in seen if name != "outcome callback"}
        assert durations["slow"] >= 0.05
        assert 0 <= durations["fast"] < 0.05

    def test_must_be_plain_functions(self) -> None:
        async def not_plain(*args: Any) -> None: ...

        with pytest.raises(TypeError, match=r"must be a plain function \(def, not async def\)"):
            Application("svc").message_observer(not_plain)
        with pytest.raises(TypeError, match="must be a plain function"):
            Application("svc").message_observer("not callable")  # type: ignore[type-var]

    def test_an_exception_in_an_observer_stops_the_application(self) -> None:
        app = Application("svc", callback=by_body)

        @app.message_observer
        def broken(app: Application, message: Any, outcome: Outcome, duration: float) -> None:
            raise LookupError("observer")

        with pytest.raises(LookupError, match="observer"):
            run_until_drained(app, ["ok"])


async def test_messages_read_and_consuming_follow_the_input() -> None:
    queue = MemoryQueue(["a", "b"], close=True)
    seen: list[tuple[int, bool]] = []

    async def callback(app: Application, message: Any) -> None:
        seen.append((app.messages_read, app.consuming))

    app = Application("svc", consumer=queue, callback=callback)

    @app.teardown
    async def at_teardown(app: Application) -> None:
        seen.append((app.messages_read, app.consuming))

    await app.serve()
    assert seen[-1] == (2, False)  # the input ended: no longer consuming
    assert all(read >= 1 for read, _ in seen)
    assert app.messages_read == 0  # not running any more


class TestPublishWrappers:
    async def test_nest_by_order_and_may_add_headers(self) -> None:
        app = Application("svc")
        trail: list[str] = []

        def make(name: str) -> Any:
            async def wrapper(
                app: Application, destination: str, headers: dict[str, Any], publish: Any
            ) -> Any:
                trail.append(f"{name} {destination}")
                headers[name] = "yes"
                return await publish()

            return wrapper

        app.publish_wrapper(make("inner"), order=5)
        app.publish_wrapper(make("outer"), order=-5)
        headers: dict[str, Any] = {}

        async def publish() -> str:
            trail.append(f"publish with {sorted(headers)}")
            return "confirmed"

        assert await app.publishing("results", headers, publish) == "confirmed"
        assert trail == ["outer results", "inner results", "publish with ['inner', 'outer']"]

    async def test_without_wrappers_it_is_the_publish_itself(self) -> None:
        async def publish() -> int:
            return 42

        assert await Application("svc").publishing("x", {}, publish) == 42

"""Property-based tests: random streams, random hook behaviour, same invariants."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doozer import Abort, Application
from doozer.outcomes import Outcome
from doozer.testing import MemoryQueue, Record

BEHAVIOURS = ("return", "none", "abort", "raise", "sleep")


class InjectedError(Exception):
    """Raised by a hook told to raise."""


@dataclass(frozen=True)
class Plan:
    """How each hook behaves for one message."""

    preprocessor: str
    callback: str
    postprocessor: str  # applies to the message's first result
    error: str
    acknowledgement: str


plans = st.builds(
    Plan,
    preprocessor=st.sampled_from(BEHAVIOURS),
    callback=st.sampled_from(BEHAVIOURS),
    # A raise here is fatal (the application stops): keep it rarer, so that
    # most runs go the distance.
    postprocessor=st.sampled_from((*BEHAVIOURS[:4], *["return", "sleep"] * 3, "raise")),
    error=st.sampled_from(("return", "abort", "sleep", "return", "raise")),
    acknowledgement=st.sampled_from(("return", "abort", "sleep", "return", "raise")),
)


@dataclass
class Observed:
    events: list[str] = field(default_factory=list)
    read: list[int] = field(default_factory=list)
    callback_inputs: list[Any] = field(default_factory=list)
    results: dict[int, list[Any]] = field(default_factory=dict)
    acknowledged: list[int] = field(default_factory=list)
    outcomes: dict[int, list[str]] = field(default_factory=dict)
    deliveries: list[Record] = field(default_factory=list)
    active: int = 0
    peak: int = 0


async def act(behaviour: str, value: Any, where: str, message_id: int) -> Any:
    if behaviour == "none":
        return None
    if behaviour == "abort":
        raise Abort(f"{where}.aborted", value)
    if behaviour == "raise":
        raise InjectedError(f"{where} of message {message_id}")
    if behaviour == "sleep":
        await asyncio.sleep(0.0005 * (message_id % 3))
    return value


def body(message: Any) -> dict[str, int]:
    """The ``{"id": n}`` of a plain message or of a delivery."""
    return getattr(message, "body", message)  # type: ignore[no-any-return]


def run(
    stream: list[Plan], num_workers: int, deliveries: bool = False, wrapped: bool = False
) -> tuple[Observed, BaseException | None]:
    observed = Observed()
    queue = MemoryQueue(({"id": n} for n in range(len(stream))), close=True)
    observed.deliveries = queue.records
    current: dict[asyncio.Task[Any] | None, int] = {}  # worker task -> message id

    def plan() -> tuple[int, Plan]:
        message_id = current[asyncio.current_task()]
        return message_id, stream[message_id]

    class Consumer:
        async def read(self) -> Any:
            if deliveries:
                delivery = await queue.read()
                observed.read.append(delivery.body["id"])
                return delivery
            if len(observed.read) == len(stream):
                raise Abort("stream.ended", None)
            observed.read.append(len(observed.read))
            return {"id": observed.read[-1]}

    async def callback(app: Application, message: Any) -> Any:
        message_id, steps = plan()
        observed.callback_inputs.append(message)
        observed.active += 1
        observed.peak = max(observed.peak, observed.active)
        try:
            results = [("result", message_id, 0), ("result", message_id, 1)]
            return await act(steps.callback, results, "callback", message_id)
        finally:
            observed.active -= 1

    app = Application("property", consumer=Consumer(), callback=callback)

    @app.startup
    async def startup(app: Application) -> None:
        observed.events.append("startup")

    @app.message_preprocessor
    async def track(app: Application, message: Any) -> Any:
        current[asyncio.current_task()] = body(message)["id"]
        return message

    @app.message_preprocessor
    async def preprocess(app: Application, message: Any) -> Any:
        message_id, steps = plan()
        return await act(steps.preprocessor, ("pre", message_id), "preprocessor", message_id)

    @app.result_postprocessor
    async def postprocess(app: Application, result: Any) -> Any:
        message_id, steps = plan()
        if result[2] == 0:
            return await act(steps.postprocessor, result, "postprocessor", message_id)
        return result

    @app.result_postprocessor
    async def collect(app: Application, result: Any) -> Any:
        message_id, _ = plan()
        observed.results.setdefault(message_id, []).append(result)
        return result

    @app.error
    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        message_id, steps = plan()
        assert isinstance(exc, InjectedError)
        await act(steps.error, None, "error", message_id)

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: Any) -> None:
        message_id = body(message)["id"]
        steps = stream[message_id]
        if steps.acknowledgement != "raise":  # Abort, too, acknowledges (and skips the rest)
            observed.acknowledged.append(message_id)
        await act(steps.acknowledgement, None, "acknowledgement", message_id)

    @app.message_outcome
    async def outcome(app: Application, message: Any, outcome: Outcome) -> None:
        observed.outcomes.setdefault(body(message)["id"], []).append(outcome.name)

    @app.teardown
    async def teardown(app: Application) -> None:
        observed.events.append("teardown")

    if wrapped:  # the engine runs the stages through a process() then, not inline

        @app.message_wrapper
        async def through(app: Application, message: Any, process: Any) -> Outcome:
            outcome: Outcome = await process()
            return outcome

    try:
        app.run_forever(num_workers=num_workers)
    except InjectedError as exc:
        return observed, exc
    return observed, None


def expected_outcome(steps: Plan) -> str:
    """The name of the outcome a message with these steps must end with."""
    _, _, fatal = expected_fate(steps)
    if fatal:
        return "unfinished"  # the application stopped while it was being processed
    if steps.preprocessor == "abort":
        return "aborted"
    if steps.preprocessor == "raise":
        return "failed"
    return {"abort": "aborted", "raise": "failed"}.get(steps.callback, "succeeded")


def expected_fate(steps: Plan) -> tuple[bool, bool, bool]:
    """(reaches the callback, has its results postprocessed, fails fatally)."""
    pre_ok = steps.preprocessor not in ("abort", "raise")
    failed = steps.preprocessor == "raise" or (pre_ok and steps.callback == "raise")
    has_results = pre_ok and steps.callback in ("return", "sleep")
    fatal = (
        (failed and steps.error == "raise")
        or (has_results and steps.postprocessor == "raise")
        or steps.acknowledgement == "raise"
    )
    return pre_ok, has_results, fatal


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.lists(plans, max_size=25),
    num_workers=st.integers(1, 6),
    deliveries=st.booleans(),
    wrapped=st.booleans(),
)
def test_invariants(stream: list[Plan], num_workers: int, deliveries: bool, wrapped: bool) -> None:
    observed, raised = run(stream, num_workers, deliveries, wrapped)

    # Startup and teardown run once each, around everything else.
    assert observed.events == ["startup", "teardown"]
    # Messages are read in order; concurrency never exceeds the workers.
    assert observed.read == list(range(len(observed.read)))
    assert observed.peak <= num_workers

    fates = {m: expected_fate(stream[m]) for m in observed.read}
    fatal = {m for m, (_, _, is_fatal) in fates.items() if is_fatal}
    # The application raises if and only if a message failed fatally, and
    # then it stopped reading; otherwise it read the whole stream.
    assert (raised is not None) == bool(fatal)
    if raised is None:
        assert len(observed.read) == len(stream)
    else:
        assert any(f"message {m}" in str(raised) for m in fatal)

    # Every message read is acknowledged exactly once, unless it failed fatally.
    assert sorted(observed.acknowledged) == sorted(set(observed.read) - fatal)

    # The callback saw exactly the messages that survived preprocessing.
    reached = [m for m, (pre_ok, _, _) in fates.items() if pre_ok]
    expected_inputs = [None if stream[m].preprocessor == "none" else ("pre", m) for m in reached]
    assert sorted(observed.callback_inputs, key=repr) == sorted(expected_inputs, key=repr)

    # Postprocessors see each result of each successful message in order,
    # minus the aborted ones.
    for message_id, (_, has_results, _) in fates.items():
        first, second = ("result", message_id, 0), ("result", message_id, 1)
        behaviour = stream[message_id].postprocessor
        if not has_results:
            expected: list[Any] = []
        elif behaviour == "abort":
            expected = [second]
        elif behaviour == "none":
            expected = [None, second]
        elif behaviour == "raise":
            expected = []
        else:
            expected = [first, second]
        assert observed.results.get(message_id, []) == expected

    # Every message read has exactly one outcome, the one its steps call for.
    assert observed.outcomes == {m: [expected_outcome(stream[m])] for m in observed.read}
    # Every delivery read was settled exactly once with that outcome; unfinished
    # ones went back to the queue; unread ones were never touched.
    if deliveries:
        settles = {"acknowledged", "dead_lettered", "returned", "retried"}
        where = {"unfinished": "returned", "failed": "dead_lettered"}
        for record in observed.deliveries:
            settled = [kind for kind in record.kinds() if kind in settles]
            message_id = record.body["id"]
            if message_id not in observed.outcomes:
                assert settled == []
                continue
            name = observed.outcomes[message_id][0]
            assert settled == [where.get(name, "acknowledged")]
            assert [o.name for o in record.outcomes] == [name]

"""``doozer.current_message()``: the message a worker processes, wherever the code runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import pytest

from doozer import Application, current_message
from doozer.outcomes import Outcome
from doozer.testing import MemoryDelivery, MemoryQueue, run_until_drained, serve_until_drained

from .support import ListConsumer

#: How the engine runs the pipeline: its inline worker (no message wrapper),
#: the generic one (a wrapper), or the ordered workers (an ordering key).
PATHS = ("inline", "wrapped", "ordered")


def by_body(message: Any) -> Hashable:
    return str(message.body)[0]


Seen = list[tuple[str, Any, Any]]


def application(path: str, callback: Callable[..., Awaitable[Any]], seen: Seen) -> Application:
    """An application whose messages take *path*; its wrapper (if any) notes what it sees."""
    app = Application("svc", callback=callback, ordering_key=by_body if path == "ordered" else None)
    app.track_current_message = True
    if path == "wrapped":

        @app.message_wrapper
        async def wrap(
            app: Application, message: Any, process: Callable[[], Awaitable[Outcome]]
        ) -> Outcome:
            seen.append(("wrapper", message, current_message()))
            return await process()

    return app


class Watched:
    """A delivery that notes which message is current when it is settled."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.current_at_settlement: Any = "never settled"

    async def settle(self, outcome: Outcome) -> None:
        self.current_at_settlement = current_message()


@pytest.mark.parametrize("path", PATHS)
def test_every_per_message_hook_sees_the_message_as_the_consumer_returned_it(path: str) -> None:
    seen: Seen = []
    spawned: list[Any] = []

    async def callback(app: Application, message: Any) -> list[str]:
        seen.append(("callback", message, current_message()))

        async def later() -> None:
            await asyncio.sleep(0)
            spawned.append(current_message())

        await asyncio.create_task(later())  # a task started here inherits it
        return [message.body.upper()]

    app = application(path, callback, seen)

    @app.message_preprocessor
    async def preprocess(app: Application, message: Any) -> Any:
        seen.append(("preprocessor", message, current_message()))
        return message

    @app.result_postprocessor
    async def postprocess(app: Application, result: Any) -> Any:
        seen.append(("postprocessor", result, current_message()))
        return result

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: Any) -> None:
        seen.append(("acknowledgement", message, current_message()))

    @app.message_outcome
    async def outcome(app: Application, message: Any, outcome: Outcome) -> None:
        seen.append(("outcome", message, current_message()))

    @app.message_observer
    def observe(app: Application, message: Any, outcome: Outcome, duration: float) -> None:
        seen.append(("observer", message, current_message()))

    deliveries = [Watched("a"), Watched("b")]
    app.consumer = ListConsumer(deliveries)
    app.run_forever()

    for hook, argument, current in seen:
        if hook == "postprocessor":  # a result: from the body of the message being processed
            assert argument == current.body.upper(), hook
        else:
            assert current is argument, hook
    assert {current for _, _, current in seen} == set(deliveries)
    assert len({hook for hook, _, _ in seen}) == (7 if path == "wrapped" else 6)
    assert spawned == deliveries
    assert [d.current_at_settlement for d in deliveries] == deliveries


@pytest.mark.parametrize("path", PATHS)
def test_failure_hooks_see_it_too(path: str) -> None:
    seen: Seen = []

    async def callback(app: Application, message: Any) -> None:
        raise ValueError("no")

    app = application(path, callback, seen)

    @app.error
    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        seen.append(("error", message, current_message()))

    delivery = Watched("x")
    app.consumer = ListConsumer([delivery])
    app.run_forever()

    assert ("error", delivery, delivery) in seen
    assert delivery.current_at_settlement is delivery


@pytest.mark.parametrize("path", PATHS)
async def test_concurrent_workers_each_see_their_own(path: str) -> None:
    mismatches: list[tuple[Any, Any]] = []

    async def callback(app: Application, message: Any) -> None:
        for _ in range(3):  # other workers run in between
            await asyncio.sleep(0)
            if current_message() is not message:
                mismatches.append((message, current_message()))

    app = application(path, callback, [])
    report = await serve_until_drained(app, [f"{n % 5}{n}" for n in range(200)], num_workers=8)

    assert report.count() == {"succeeded": 200}
    assert mismatches == []


def test_none_outside_processing() -> None:
    outside: list[tuple[str, Any]] = []

    async def callback(app: Application, message: Any) -> None:
        pass

    app = Application("svc", callback=callback)
    app.track_current_message = True

    @app.startup
    async def startup(app: Application) -> None:
        outside.append(("startup", current_message()))

    @app.teardown
    async def teardown(app: Application) -> None:
        outside.append(("teardown", current_message()))

    class Reading(MemoryQueue):
        async def read(self) -> MemoryDelivery:
            outside.append(("read", current_message()))
            return await super().read()

    run_until_drained(app, Reading(["x", "y"]))

    assert {what for what, _ in outside} == {"startup", "read", "teardown"}
    assert [current for _, current in outside] == [None] * len(outside)
    assert current_message() is None


@pytest.mark.parametrize("path", PATHS)
def test_none_unless_the_application_tracks_it(path: str) -> None:
    seen: Seen = []

    async def callback(app: Application, message: Any) -> None:
        seen.append(("callback", message, current_message()))

    app = application(path, callback, seen)
    app.track_current_message = False
    app.consumer = ListConsumer([Watched("a")])
    app.run_forever()

    assert seen
    assert [current for _, _, current in seen] == [None] * len(seen)
    assert Application("plain").track_current_message is False

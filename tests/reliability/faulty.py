"""An application whose hooks misbehave on demand, recording what happened.

``build(hook, fault)`` makes one hook fail: on message 3 for the hooks that
see messages (and on the 4th read for the consumer), every time for startup
and teardown. A fault is ``"abort"`` (raise Abort), ``"raise"`` (raise
:class:`InjectedError`) or ``"hang"`` (never return).

With ``deliveries=True`` the messages come from a :class:`doozer.testing.MemoryQueue`
(deliveries, settled by the engine) instead of a plain consumer. Either way
the record keeps each message's outcomes (from the ``message_outcome`` hook).

``make()`` builds the same from the environment (``FAULTY_HOOK``,
``FAULTY_FAULT``), for ``python -m doozer run tests.reliability.faulty:make``;
its startup prints ``started`` and its teardown ``teardown``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from doozer import Abort, Application
from doozer.outcomes import Outcome
from doozer.testing import MemoryQueue

HOOKS = (
    "consumer",
    "startup",
    "preprocessor",
    "callback",
    "postprocessor",
    "error",
    "acknowledgement",
    "teardown",
)
FAULTS = ("abort", "raise", "hang")
MESSAGES = 10
FAULTY_MESSAGE = 3


class InjectedError(Exception):
    """The exception a faulty hook raises."""


@dataclass
class Record:
    read: list[int] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    results: list[int] = field(default_factory=list)
    outcomes: dict[int, list[str]] = field(default_factory=dict)
    startups: int = 0
    teardowns: int = 0


def number(message: Any) -> Any:
    """The message's number, whether it is a plain int or a delivery of one."""
    return getattr(message, "body", message)


async def misbehave(fault: str, message: Any) -> None:
    if fault == "abort":
        raise Abort("fault.injected", message)
    if fault == "raise":
        raise InjectedError(f"injected failure on {message!r}")
    await asyncio.Event().wait()  # hang


def build(
    hook: str, fault: str, *, announce: bool = False, deliveries: bool = False
) -> tuple[Application, Record]:
    """An application over messages 0..9 whose *hook* suffers *fault*."""
    record = Record()
    queue = MemoryQueue(range(MESSAGES), close=True)

    def faulty(where: str, message: Any) -> bool:
        return hook == where and number(message) == FAULTY_MESSAGE

    class Consumer:
        async def read(self) -> Any:
            count = len(record.read)
            if hook == "consumer" and count == FAULTY_MESSAGE + 1:
                await misbehave(fault, None)
            if deliveries:
                delivery = await queue.read()
                record.read.append(delivery.body)
                return delivery
            if count == MESSAGES:
                raise Abort("consumer.exhausted", None)
            record.read.append(count)
            return count

        def __repr__(self) -> str:
            return "<faulty consumer>"

    async def callback(app: Application, message: Any) -> list[int]:
        await asyncio.sleep(0)
        if faulty("callback", message) or (hook == "error" and faulty("error", message)):
            await misbehave(fault if hook == "callback" else "raise", message)
        return [number(message)]

    app = Application("faulty", {"SHUTDOWN_TIMEOUT": 1}, consumer=Consumer(), callback=callback)
    app.extensions["queue"] = queue  # where a test finds the deliveries' records

    @app.message_outcome
    async def outcome(app: Application, message: Any, outcome: Outcome) -> None:
        record.outcomes.setdefault(number(message), []).append(outcome.name)

    @app.startup
    async def startup(app: Application) -> None:
        record.startups += 1
        if announce:
            print("started", flush=True)
        if hook == "startup":
            await misbehave(fault, None)

    @app.message_preprocessor
    async def preprocess(app: Application, message: Any) -> Any:
        if faulty("preprocessor", message):
            await misbehave(fault, message)
        return message

    @app.result_postprocessor
    async def postprocess(app: Application, result: int) -> int:
        if faulty("postprocessor", result):
            await misbehave(fault, result)
        record.results.append(result)
        return result

    @app.error
    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        record.errors.append(number(message))
        if faulty("error", message):
            await misbehave(fault, message)

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: Any) -> None:
        if faulty("acknowledgement", message):
            await misbehave(fault, message)
        record.acknowledged.append(number(message))

    @app.teardown
    async def teardown(app: Application) -> None:
        record.teardowns += 1
        if announce:
            print("teardown", flush=True)
        if hook == "teardown":
            await misbehave(fault, None)

    return app, record


def make() -> Application:
    """The application factory for the command line."""
    app, _ = build(os.environ["FAULTY_HOOK"], os.environ["FAULTY_FAULT"], announce=True)
    return app

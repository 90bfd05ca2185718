"""An application whose hooks misbehave on demand, recording what happened.

``build(hook, fault)`` makes one hook fail: on message 3 for the hooks that
see messages (and on the 4th read for the consumer), every time for startup
and teardown. A fault is ``"abort"`` (raise Abort), ``"raise"`` (raise
:class:`InjectedError`) or ``"hang"`` (never return).

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
    startups: int = 0
    teardowns: int = 0


async def misbehave(fault: str, message: Any) -> None:
    if fault == "abort":
        raise Abort("fault.injected", message)
    if fault == "raise":
        raise InjectedError(f"injected failure on {message!r}")
    await asyncio.Event().wait()  # hang


def build(hook: str, fault: str, *, announce: bool = False) -> tuple[Application, Record]:
    """An application over messages 0..9 whose *hook* suffers *fault*."""
    record = Record()

    def faulty(where: str, message: Any) -> bool:
        return hook == where and message == FAULTY_MESSAGE

    class Consumer:
        async def read(self) -> int:
            number = len(record.read)
            if hook == "consumer" and number == FAULTY_MESSAGE + 1:
                await misbehave(fault, None)
            if number == MESSAGES:
                raise Abort("consumer.exhausted", None)
            record.read.append(number)
            return number

    async def callback(app: Application, message: int) -> list[int]:
        await asyncio.sleep(0)
        if faulty("callback", message) or (hook == "error" and message == FAULTY_MESSAGE):
            await misbehave(fault if hook == "callback" else "raise", message)
        return [message]

    app = Application("faulty", {"SHUTDOWN_TIMEOUT": 1}, consumer=Consumer(), callback=callback)

    @app.startup
    async def startup(app: Application) -> None:
        record.startups += 1
        if announce:
            print("started", flush=True)
        if hook == "startup":
            await misbehave(fault, None)

    @app.message_preprocessor
    async def preprocess(app: Application, message: int) -> int:
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
    async def on_error(app: Application, message: int, exc: Exception) -> None:
        record.errors.append(message)
        if faulty("error", message):
            await misbehave(fault, message)

    @app.message_acknowledgement
    async def acknowledge(app: Application, message: int) -> None:
        if faulty("acknowledgement", message):
            await misbehave(fault, message)
        record.acknowledged.append(message)

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

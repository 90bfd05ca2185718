"""A session per message: committed when it succeeded, before it is settled; else rolled back."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from doozer import Abort, Application
from doozer.contrib.database import Database
from doozer.outcomes import SUCCEEDED, Aborted, Failed, Outcome, RetryLater, Unfinished
from doozer.testing import MemoryDelivery, run_until_drained, serve_until_drained
from tests.support.faults import FaultProxy

from .support import Base, Row, count_rows, create_tables, notes, stored


def make_app(url: str, callback: Any, **settings: Any) -> tuple[Application, Database]:
    app = Application("db-test", {"DATABASE_URL": url, **settings}, callback=callback)
    return app, Database(app, metadata=Base.metadata)


def insert(db: Database, *, fail_on: int | None = None) -> Any:
    async def callback(app: Application, message: MemoryDelivery) -> None:
        db.session.add(Row(message=message.body))
        await db.session.flush()  # the INSERT reaches the database before the failure
        if message.body == fail_on:
            raise ValueError(f"message {message.body} is bad")

    return callback


def test_a_thousand_messages_commit_a_thousand_rows(database_url: str) -> None:
    asyncio.run(create_tables(database_url))
    app, db = make_app(database_url, None)
    app.callback = insert(db)
    report = run_until_drained(app, range(1000), num_workers=4)
    assert report.count() == {"succeeded": 1000}
    assert stored(database_url) == list(range(1000))


def test_a_failing_message_writes_nothing_and_goes_through_the_error_path(
    database_url: str,
) -> None:
    asyncio.run(create_tables(database_url))
    app, db = make_app(database_url, None)
    app.callback = insert(db, fail_on=3)
    errors: list[tuple[Any, BaseException, int]] = []

    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        # The error callbacks see the message's session, before the rollback.
        query = select(Row.message).where(Row.message == message.body)
        pending = (await db.session.execute(query)).scalars().all()
        errors.append((message.body, exc, len(pending)))

    app.error(on_error)
    report = run_until_drained(app, range(6), num_workers=2)
    assert isinstance(report.outcomes[3], Failed)
    assert report.records[3].kinds() == ["published", "delivered", "dead_lettered"]
    assert [(body, str(exc), pending) for body, exc, pending in errors] == [
        (3, "message 3 is bad", 1)
    ]
    assert stored(database_url) == [0, 1, 2, 4, 5]


def test_aborted_and_retried_messages_are_rolled_back(database_url: str) -> None:
    asyncio.run(create_tables(database_url))
    app, db = make_app(database_url, None)

    async def callback(app: Application, message: MemoryDelivery) -> None:
        db.session.add(Row(message=message.body, note=f"attempt {message.attempt}"))
        await db.session.flush()
        if message.body == 100:
            raise Abort("not for us", message)
        if message.body == 1 and message.attempt == 1:
            raise ConnectionError("try again")

    async def retry_once(
        app: Application, original: MemoryDelivery, message: Any, exc: Exception
    ) -> Outcome | None:
        return RetryLater(1.0, original.attempt + 1, exc, 0.0) if original.attempt == 1 else None

    app.callback = callback
    app.failure_policy(retry_once)
    report = run_until_drained(app, [0, 100, 1])
    assert report.outcomes == [SUCCEEDED, Aborted("not for us"), SUCCEEDED]
    assert report.records[2].kinds() == [
        "published",
        "delivered",
        "retried",
        "delivered",
        "acknowledged",
    ]
    assert asyncio.run(notes(database_url)) == [(0, "attempt 1"), (1, "attempt 2")]


class CheckingDelivery:
    """A delivery that looks in the database, from outside, when it is settled."""

    def __init__(self, body: int, url: str, seen: dict[int, tuple[str, int]]) -> None:
        self.body = body
        self.url = url
        self.seen = seen
        self.headers: Mapping[str, Any] = {}
        self.attempt = 1
        self.redelivered = False
        self.first_failure: float | None = None

    async def settle(self, outcome: Outcome) -> None:
        self.seen[self.body] = (outcome.name, await count_rows(self.url, self.body))


class CheckingConsumer:
    def __init__(self, bodies: list[int], url: str) -> None:
        self.pending = list(bodies)
        self.url = url
        self.seen: dict[int, tuple[str, int]] = {}

    async def read(self) -> CheckingDelivery:
        if not self.pending:
            raise Abort("drained", None)
        return CheckingDelivery(self.pending.pop(0), self.url, self.seen)


async def test_rows_are_committed_before_the_message_is_settled(database_url: str) -> None:
    await create_tables(database_url)
    app, db = make_app(database_url, None)
    app.callback = insert(db, fail_on=2)
    app.consumer = consumer = CheckingConsumer(list(range(5)), database_url)
    await app.serve(num_workers=3)
    assert consumer.seen == {
        0: ("succeeded", 1),
        1: ("succeeded", 1),
        2: ("failed", 0),
        3: ("succeeded", 1),
        4: ("succeeded", 1),
    }


async def test_the_session_is_that_of_the_message_in_every_hook(database_url: str) -> None:
    await create_tables(database_url)
    sessions: dict[str, list[Any]] = {}
    app, db = make_app(database_url, None)

    def record(kind: str, key: Any) -> None:
        sessions.setdefault(kind, []).append((key, id(db.session)))

    async def preprocess(app: Application, message: MemoryDelivery) -> MemoryDelivery:
        record("pre", message.body)
        return message

    async def callback(app: Application, message: MemoryDelivery) -> list[int]:
        record("callback", message.body)
        await asyncio.sleep(0)  # let the other workers interleave
        return [message.body]

    async def postprocess(app: Application, result: int) -> int:
        record("post", result)
        return result

    async def acknowledge(app: Application, message: MemoryDelivery) -> None:
        record("ack", message.body)

    app.callback = callback
    app.message_preprocessor(preprocess)
    app.result_postprocessor(postprocess)
    app.message_acknowledgement(acknowledge)
    await serve_until_drained(app, range(8), num_workers=4)
    by_message = {key: session for key, session in sessions["callback"]}
    assert len(set(by_message.values())) >= 2  # concurrent messages, distinct sessions
    for kind in ("pre", "post", "ack"):
        assert dict(sessions[kind]) == by_message, kind
    with pytest.raises(RuntimeError, match="only while a message is processed"):
        db.session  # noqa: B018


async def test_a_commit_that_violates_a_constraint_fails_the_message(database_url: str) -> None:
    await create_tables(database_url)
    app, db = make_app(database_url, None)
    errors: list[str] = []

    async def callback(app: Application, message: MemoryDelivery) -> None:
        # Not flushed: the duplicate key is only found by the commit.
        db.session.add(Row(id=1 if message.body == "dup" else None, message=7))

    async def on_error(app: Application, message: Any, exc: Exception) -> None:
        errors.append(type(exc).__name__)

    app.callback = callback
    app.error(on_error)
    report = await serve_until_drained(app, ["first", "dup"])
    assert report.outcomes[0] == SUCCEEDED
    assert isinstance(report.outcomes[1], Failed)
    assert report.records[1].kinds()[-1] == "dead_lettered"
    assert errors == ["IntegrityError"]
    assert await count_rows(database_url) == 1


def test_a_commit_that_loses_the_database_hands_the_message_back(database_url: str) -> None:
    asyncio.run(create_tables(database_url))
    port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    with FaultProxy(port) as proxy:
        url = database_url.replace(f":{port}/", f":{proxy.port}/")
        app, db = make_app(url, None)
        cut: list[int] = []

        async def callback(app: Application, message: MemoryDelivery) -> None:
            db.session.add(Row(message=message.body))
            await db.session.flush()
            if not cut:
                cut.append(message.body)
                proxy.cut()  # the commit finds the connection gone

        app.callback = callback
        report = run_until_drained(app, [5])
    assert report.outcomes == [SUCCEEDED]
    kinds = report.records[0].kinds()
    assert kinds == ["published", "delivered", "returned", "delivered", "acknowledged"]
    assert isinstance(report.records[0].outcomes[0], Unfinished)
    assert "commit failed" in report.records[0].events[2].detail
    assert stored(database_url) == [5]


def test_sqlite_for_a_quickstart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quick.db'}"
    app, db = make_app(url, None)

    async def create(app: Application) -> None:
        async with db.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    app.startup(create)
    app.callback = insert(db, fail_on=4)
    report = run_until_drained(app, range(10), num_workers=2)
    assert report.count() == {"succeeded": 9, "failed": 1}
    assert stored(url) == [0, 1, 2, 3, 5, 6, 7, 8, 9]

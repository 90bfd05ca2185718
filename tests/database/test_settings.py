"""Settings checked at init_app; the database reached (or not) at startup; secrets hidden."""

from __future__ import annotations

import asyncio
import logging

import pytest

from doozer import Application
from doozer.contrib.database import Database
from doozer.testing import serve_until_drained
from tests.support.faults import FaultProxy

from .support import Row, create_tables, stored

SECRET = "hunter2"


async def nothing(app: Application, message: object) -> None:
    pass


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"nonsense:{SECRET}", "is not a database URL"),
        (f"postgresql+nosuch://user:{SECRET}@host/db", "SQLAlchemy does not know"),
        (f"postgresql://user:{SECRET}@host/db", "not an asyncio driver"),
        (f"mysql+aiomysql://user:{SECRET}@host/db", "pip install aiomysql"),
    ],
)
def test_a_bad_url_is_one_line_naming_the_setting_without_the_password(
    url: str, expected: str
) -> None:
    with pytest.raises(ValueError, match=expected) as caught:
        Database(Application("bad", {"DATABASE_URL": url}))
    message = str(caught.value)
    assert "\n" not in message
    assert "DATABASE_URL" in message
    assert SECRET not in message
    # No chained SQLAlchemy error, whose message may quote the URL.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_a_missing_url_names_the_setting() -> None:
    with pytest.raises(KeyError, match="DATABASE_URL"):
        Database(Application("nourl"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_POOL_SIZE", 0),
        ("DATABASE_POOL_TIMEOUT", -1),
        ("DATABASE_CONNECT_TIMEOUT", "soon"),
        ("DATABASE_ECHO", "loud"),
        ("DATABASE_MIGRATIONS", ""),
    ],
)
def test_other_settings_are_checked(name: str, value: object) -> None:
    settings = {"DATABASE_URL": "sqlite+aiosqlite:///x.db", name: value}
    with pytest.raises((TypeError, ValueError), match=name):
        Database(Application("bad", settings))


def test_reprs_hide_the_password() -> None:
    app = Application("masked", {"DATABASE_URL": f"postgresql+asyncpg://me:{SECRET}@db/x"})
    db = Database(app)
    shown = f"{db!r} {app.settings!r}"
    assert SECRET not in shown
    assert "me:***@db/x" in shown


def test_the_engine_exists_only_while_running() -> None:
    db = Database(Application("idle", {"DATABASE_URL": "sqlite+aiosqlite:///x.db"}))
    with pytest.raises(RuntimeError, match="startup"):
        db.engine  # noqa: B018
    with pytest.raises(RuntimeError, match="startup"):
        db.sessionmaker  # noqa: B018
    with pytest.raises(RuntimeError, match="not bound"):
        Database().app  # noqa: B018


async def test_a_database_down_at_startup_is_one_line_after_retrying(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql+asyncpg://me:{SECRET}@127.0.0.1:1/nowhere"
    settings = {"DATABASE_URL": url, "DATABASE_CONNECT_TIMEOUT": 0.6}
    app = Application("down", settings, callback=nothing)
    Database(app)
    with caplog.at_level(logging.INFO), pytest.raises(ConnectionError) as caught:
        await serve_until_drained(app, [1])
    message = str(caught.value)
    assert "\n" not in message
    assert "me:***@127.0.0.1:1/nowhere" in message
    assert "DATABASE_CONNECT_TIMEOUT" in message
    retries = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) >= 2
    assert SECRET not in caplog.text


async def test_a_database_refusing_for_good_is_not_retried() -> None:
    # The server answers, and says the database does not exist: no point in waiting.
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/doozer_no_such_database"
    settings = {"DATABASE_URL": url, "DATABASE_CONNECT_TIMEOUT": 60}
    app = Application("nodb", settings, callback=nothing)
    Database(app)
    with pytest.raises(ConnectionError, match="does not exist") as caught:
        await asyncio.wait_for(serve_until_drained(app, [1]), 20)
    assert "\n" not in str(caught.value)


def test_a_database_back_during_startup_is_used(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(create_tables(database_url))
    port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    with FaultProxy(port) as proxy:
        proxy.refuse(1.0)
        url = database_url.replace(f":{port}/", f":{proxy.port}/")
        app = Application("late", {"DATABASE_URL": url, "DATABASE_CONNECT_TIMEOUT": 20})
        db = Database(app)

        async def callback(app: Application, message: object) -> None:
            db.session.add(Row(message=getattr(message, "body", 0)))

        app.callback = callback
        with caplog.at_level(logging.INFO):
            asyncio.run(serve_until_drained(app, [1, 2]))
    assert stored(database_url) == [1, 2]
    assert "Cannot connect to the database" in caplog.text
    assert "Connected to the database" in caplog.text

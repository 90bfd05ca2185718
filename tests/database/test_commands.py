"""``doozer --app APP db ...``: Alembic migrations of a real schema, through subprocesses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.processes import doozer

SERVICE = """\
from sqlalchemy import Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from doozer import Application
from doozer.contrib.database import Database


class Base(DeclarativeBase):
    metadata = MetaData()


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


async def callback(app, message):
    pass


app = Application(
    "migrated",
    {{"DATABASE_URL": {url!r}, "DATABASE_MIGRATIONS": "migrations"}},
    callback=callback,
)
Database(app, metadata=Base.metadata)
"""


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            return set(names)
    finally:
        await engine.dispose()


def tables(url: str) -> set[str]:
    return asyncio.run(_tables(url))


def db(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run ``python -m doozer --app service db *args``: (status, stdout, stderr)."""
    process = doozer("--app", "service", "db", *args, cwd=tmp_path)
    status = process.finish()
    return status, process.output("stdout"), process.output("stderr")


@pytest.mark.slow
def test_upgrade_and_downgrade_a_real_schema(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "service.py").write_text(SERVICE.format(url=database_url))

    status, out, err = db(tmp_path, "init")
    assert status == 0, err
    assert (tmp_path / "migrations" / "env.py").is_file()
    assert "Created" in out

    status, out, err = db(tmp_path, "revision", "-m", "create items", "--autogenerate")
    assert status == 0, err
    (script,) = (tmp_path / "migrations" / "versions").glob("*.py")
    assert "op.create_table('items'" in script.read_text().replace('"', "'")
    assert tables(database_url) == {"alembic_version"}  # autogenerate only compared

    status, out, err = db(tmp_path, "upgrade")
    assert status == 0, err
    assert "Running upgrade  -> " in err
    assert "create items" in err
    assert tables(database_url) == {"alembic_version", "items"}

    status, out, err = db(tmp_path, "current")
    assert status == 0, err
    revision = script.name.split("_")[0]
    assert f"{revision} (head)" in out

    status, out, err = db(tmp_path, "history")
    assert status == 0, err
    assert f"<base> -> {revision} (head), create items" in out

    status, out, err = db(tmp_path, "downgrade", "base")
    assert status == 0, err
    assert "Running downgrade" in err
    assert tables(database_url) == {"alembic_version"}


@pytest.mark.slow
def test_a_hand_written_revision_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    (tmp_path / "service.py").write_text(SERVICE.format(url=url))
    assert db(tmp_path, "init")[0] == 0
    status, _out, err = db(tmp_path, "revision", "-m", "notes table")
    assert status == 0, err
    (script,) = (tmp_path / "migrations" / "versions").glob("*.py")
    text = script.read_text()
    text = text.replace(
        "def upgrade() -> None:\n    pass",
        "def upgrade() -> None:\n    op.create_table('notes', sa.Column('id', sa.Integer, "
        "primary_key=True))",
    ).replace(
        "def downgrade() -> None:\n    pass", "def downgrade() -> None:\n    op.drop_table('notes')"
    )
    script.write_text(text)
    assert db(tmp_path, "upgrade", "head")[0] == 0
    assert tables(url) == {"alembic_version", "notes"}
    assert db(tmp_path, "downgrade", "-1")[0] == 0
    assert tables(url) == {"alembic_version"}


@pytest.mark.slow
def test_mistakes_are_one_line(tmp_path: Path, database_url: str) -> None:
    secret_url = database_url.replace("postgres@", "postgres:hunter2@")
    (tmp_path / "service.py").write_text(SERVICE.format(url=secret_url))

    status, out, err = db(tmp_path, "upgrade")
    assert status == 1
    assert err.strip().count("\n") == 0
    assert "DATABASE_MIGRATIONS 'migrations' is not a migrations directory" in err
    assert "db init" in err

    assert db(tmp_path, "init")[0] == 0
    status, out, err = db(tmp_path, "init")
    assert status == 1
    assert "exists and is not an empty directory" in err

    status, out, err = db(tmp_path, "downgrade", "nosuchrevision")
    assert status == 1
    # Alembic says what it connected to ("Context impl ..."), then one line for the error.
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("doozer db downgrade: error:")
    assert "nosuchrevision" in last

    down = SERVICE.format(url="postgresql+asyncpg://me:hunter2@127.0.0.1:1/gone")
    (tmp_path / "service.py").write_text(down)
    status, out, err = db(tmp_path, "current")
    assert status == 1
    assert err.strip().count("\n") == 0, err
    assert "me:***@127.0.0.1:1/gone" in err
    assert "hunter2" not in out + err


def test_the_commands_are_documented(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(SERVICE.format(url="sqlite+aiosqlite://"))
    status, out, err = db(tmp_path, "--help")
    assert status == 0, err
    for name in ("init", "upgrade", "downgrade", "revision", "current", "history"):
        assert name in out
    process = doozer("--app", "service", "db", "revision", "--help", cwd=tmp_path)
    assert process.finish() == 0
    assert "-m MESSAGE, --message MESSAGE" in process.output("stdout")
    assert "--autogenerate" in process.output("stdout")

"""The ``doozer --app APP db ...`` commands, on Alembic's own command API."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from doozer.cli import register_commands
from doozer.config import mask_url

from ._engine import make_engine, summary
from ._migrations import MigrationsError, create_directory, make_config
from ._settings import resolve

if TYPE_CHECKING:
    from doozer import Application

    from ._extension import Database

__all__ = ["register"]


# A string annotation is the help text of a command's argument (register_commands),
# hence the type: ignore comments.


def register() -> None:
    """Add the ``db`` namespace to the ``doozer`` command line."""
    register_commands(
        "db",
        [init, upgrade, downgrade, revision, current, history],
        namespace_kwargs={
            "help": "database migrations (Alembic)",
            "description": "Manage the database schema of the application with Alembic: "
            "the migration scripts live in the DATABASE_MIGRATIONS directory.",
        },
    )


def init(app: Application) -> int:
    """Create the migrations directory (DATABASE_MIGRATIONS) with its env.py.

    The directory gets env.py, script.py.mako (the template of new
    revisions) and versions/, where 'db revision' writes revisions.
    """
    _database(app)  # the application must use the extension
    try:
        made = create_directory(resolve(app.settings).migrations)
    except MigrationsError as error:
        return _fail("init", error)
    for path in made:
        print(f"Created {path}")
    return 0


async def upgrade(
    app: Application,
    revision: "the revision to upgrade to, e.g. an id or +1" = "head",  # type: ignore[valid-type]  # noqa: F722
) -> int:
    """Upgrade the database to a revision (by default the latest, head)."""
    return await _connected(app, "upgrade", lambda config: command.upgrade(config, revision))


async def downgrade(
    app: Application,
    revision: "the revision to downgrade to: an id, -1 for one step back, base for none",  # type: ignore[valid-type]  # noqa: F722
) -> int:
    """Downgrade the database to a revision."""
    return await _connected(app, "downgrade", lambda config: command.downgrade(config, revision))


async def revision(
    app: Application,
    *,
    message: "what the revision does",  # type: ignore[valid-type]  # noqa: F722
    autogenerate: "compare the models' metadata with the database to write it" = False,  # type: ignore[valid-type]  # noqa: F722
) -> int:
    """Create a revision (a new migration script) in DATABASE_MIGRATIONS.

    With --autogenerate, its operations are written by comparing the
    metadata given to Database(app, metadata=...) with the database.
    """

    def write(config: Config) -> None:
        command.revision(config, message=message, autogenerate=autogenerate)

    if not autogenerate:  # no database needed
        return _offline(app, "revision", write)
    if _database(app).metadata is None:
        print(
            "doozer db revision: error: --autogenerate compares the database with your "
            "models: pass their metadata, Database(app, metadata=Base.metadata)",
            file=sys.stderr,
        )
        return 1
    return await _connected(app, "revision", write)


async def current(app: Application, verbose: int | None = None) -> int:
    """Show the revision the database is at."""
    return await _connected(app, "current", lambda config: command.current(config, bool(verbose)))


def history(app: Application, verbose: int | None = None) -> int:
    """List the revisions, newest first."""
    return _offline(app, "history", lambda config: command.history(config, verbose=bool(verbose)))


# -- running Alembic ----------------------------------------------------------------


def _database(app: Application) -> Database:
    from ._extension import Database

    database = app.extensions.get("database")
    if not isinstance(database, Database):
        raise SystemExit(
            f"doozer db: error: {app!r} does not use the Database extension: "
            "initialize Database(app) where the application is made"
        )
    return database


def _fail(name: str, error: BaseException) -> int:
    text = mask_url(str(error).strip().replace("\n", " "))
    print(f"doozer db {name}: error: {text}", file=sys.stderr)
    return 1


def _offline(app: Application, name: str, action: Callable[[Config], None]) -> int:
    database = _database(app)
    try:
        config = make_config(resolve(app.settings).migrations, database.metadata)
        with _alembic_logs():
            action(config)
    except (MigrationsError, CommandError) as error:
        return _fail(name, error)
    return 0


async def _connected(app: Application, name: str, action: Callable[[Config], None]) -> int:
    """Run *action* with a connection to the database, in one transaction."""
    database = _database(app)
    settings = resolve(app.settings)
    try:
        config = make_config(settings.migrations, database.metadata)
    except MigrationsError as error:
        return _fail(name, error)
    engine = make_engine(settings, None)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        action(config)

    try:
        with _alembic_logs():
            # A transaction around the whole command: on PostgreSQL a
            # migration that fails half-way leaves nothing behind.
            async with engine.begin() as connection:
                await connection.run_sync(run)
    except (CommandError, MigrationsError) as error:
        return _fail(name, error)
    except (OSError, SQLAlchemyError) as error:
        print(
            f"doozer db {name}: error: database at {settings.safe_url}: {summary(error)}",
            file=sys.stderr,
        )
        return 1
    finally:
        await engine.dispose()
    return 0


@contextmanager
def _alembic_logs() -> Iterator[None]:
    """Show what Alembic does ("Running upgrade ...") on stderr, as its own command does."""
    logger = logging.getLogger("alembic")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate

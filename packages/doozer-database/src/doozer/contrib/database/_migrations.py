"""Alembic, configured in code: the script directory, its env.py, and running it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from alembic import context
from alembic.config import Config
from sqlalchemy import MetaData

__all__ = ["create_directory", "make_config", "run_migrations"]

#: The env.py of a migrations directory made by ``doozer db init``.
ENV_PY = '''\
"""Alembic's environment, run by the ``doozer --app APP db ...`` commands.

doozer.contrib.database hands it a connection made from the application's
DATABASE_URL, and the models' metadata given to Database(app, metadata=...).
Edit it to pass more options to Alembic's context.configure().
"""

from doozer.contrib.database import run_migrations

run_migrations()
'''

#: The template of each revision file (Mako, as Alembic expects).
SCRIPT_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''


class MigrationsError(Exception):
    """A migrations directory that is missing or already there: one line for the user."""


def make_config(directory: str, metadata: MetaData | None) -> Config:
    """An Alembic configuration for the script *directory*, without any .ini file.

    :raises MigrationsError: if *directory* is not a migrations directory.
    """
    if not (Path(directory) / "env.py").is_file():
        raise MigrationsError(
            f"DATABASE_MIGRATIONS {directory!r} is not a migrations directory (no env.py "
            "there): create it with 'doozer --app APP db init', or correct the setting"
        )
    config = Config(stdout=sys.stdout)
    # Alembic's options go through configparser: a literal % must be doubled.
    config.set_main_option("script_location", directory.replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["target_metadata"] = metadata
    return config


def create_directory(directory: str) -> list[Path]:
    """Make a migrations directory: env.py, script.py.mako and versions/.

    :returns: the files and directories made.
    :raises MigrationsError: if *directory* exists and is not empty.
    """
    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise MigrationsError(
            f"DATABASE_MIGRATIONS {directory!r} exists and is not an empty directory: "
            "remove it, or point DATABASE_MIGRATIONS elsewhere"
        )
    (root / "versions").mkdir(parents=True, exist_ok=True)
    (root / "env.py").write_text(ENV_PY)
    (root / "script.py.mako").write_text(SCRIPT_MAKO)
    return [root / "env.py", root / "script.py.mako", root / "versions"]


def run_migrations(**options: Any) -> None:
    """Run the migrations Alembic asked for; call it from a migrations directory's env.py.

    It runs them on the connection the ``doozer db`` command opened (in
    its transaction), comparing with the models' metadata given to
    :class:`~doozer.contrib.database.Database`. On SQLite, Alembic's batch
    mode is on, so columns can be altered and dropped.

    :param options: more keyword arguments for Alembic's
        ``context.configure()`` (``compare_server_default=True``...).
    :raises RuntimeError: when run by something else than a ``doozer db`` command.
    """
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "this env.py runs through the doozer command: doozer --app APP db upgrade "
            "(plain 'alembic' does not know the application's settings)"
        )
    options.setdefault("render_as_batch", connection.dialect.name == "sqlite")
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()

"""Reading and checking the ``DATABASE_*`` settings of one application."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

from doozer.config import mask_url, read_seconds, read_whole_number

__all__ = ["DEFAULTS", "DOCS", "Settings", "check_url", "resolve"]

DEFAULTS: Mapping[str, Any] = {
    "DATABASE_ECHO": False,
    "DATABASE_POOL_SIZE": None,
    "DATABASE_POOL_TIMEOUT": 30,
    "DATABASE_MIGRATIONS": "migrations",
    "DATABASE_CONNECT_TIMEOUT": 30,
}

#: What each setting means (reStructuredText), rendered by ``.. doozersettings::``.
DOCS: Mapping[str, str] = {
    "DATABASE_URL": (
        "A SQLAlchemy URL with an asyncio driver that is installed: "
        "``postgresql+asyncpg://user:password@host/db``, ``sqlite+aiosqlite:///file.db``... "
        "Checked at initialization; the password is never shown."
    ),
    "DATABASE_ECHO": 'Log every statement: ``True``, ``False`` or ``"debug"`` (rows too).',
    "DATABASE_POOL_SIZE": (
        "Connections the pool keeps. ``None``: one per worker (at least 5), so no worker "
        "waits for one."
    ),
    "DATABASE_POOL_TIMEOUT": "Seconds to wait for a connection from the pool.",
    "DATABASE_MIGRATIONS": (
        "The Alembic script directory of the ``db`` commands (relative to the working directory)."
    ),
    "DATABASE_CONNECT_TIMEOUT": (
        "Seconds startup keeps trying to reach the database, with a growing delay, before "
        "the application stops."
    ),
}

_EXAMPLES = "postgresql+asyncpg://user:password@host/dbname or sqlite+aiosqlite:///file.db"


@dataclass(frozen=True)
class Settings:
    """The checked ``DATABASE_*`` settings (the URL is left out of the repr)."""

    url: URL = field(repr=False)
    echo: bool | str
    pool_size: int | None
    pool_timeout: float
    migrations: str
    connect_timeout: float
    #: Whether the dialect pools connections in a queue (pool size and timeout apply).
    queue_pool: bool

    @property
    def safe_url(self) -> str:
        """The URL with its password masked, fit for logs and errors."""
        return mask_url(self.url.render_as_string(hide_password=False))


def check_url(value: object) -> URL:
    """Parse *value* as the SQLAlchemy URL of an asyncio driver that is installed.

    :raises TypeError: if it is not a non-empty string (or URL).
    :raises ValueError: one line naming ``DATABASE_URL``, never its password.
    """
    if isinstance(value, URL):
        value = value.render_as_string(hide_password=False)
    if not isinstance(value, str) or not value:
        raise TypeError(
            f"DATABASE_URL must be a non-empty string such as {_EXAMPLES}, "
            f"got {type(value).__name__}"
        )
    shown = mask_url(value)
    try:
        url = make_url(value)
    except ArgumentError:
        # SQLAlchemy's message may quote the URL, password included: say it ourselves.
        # Not shown: without a URL's shape, where a password is cannot be told.
        raise ValueError(
            f"DATABASE_URL is not a database URL (value not shown, it may hold a password): "
            f"write it as {_EXAMPLES}"
        ) from None
    try:
        dialect = url.get_dialect()
    except ArgumentError:  # NoSuchModuleError: no such dialect or driver in SQLAlchemy
        raise ValueError(
            f"DATABASE_URL {shown!r} names a database or driver SQLAlchemy does not know "
            f"({url.drivername!r}): use an asyncio driver, e.g. {_EXAMPLES}"
        ) from None
    if not dialect.is_async:
        raise ValueError(
            f"DATABASE_URL {shown!r} uses {url.drivername!r}, which is not an asyncio "
            f"driver: name one after a '+', e.g. {_EXAMPLES}"
        )
    try:
        dialect.import_dbapi()
    except ImportError as error:
        driver = error.name or url.get_driver_name()
        raise ValueError(
            f"DATABASE_URL {shown!r} needs the driver module {driver!r}, which is not "
            f"installed: pip install {driver}"
        ) from None
    return url


def resolve(settings: Mapping[str, Any]) -> Settings:
    """Check the settings (defaults applied already) and return them typed.

    :raises TypeError: a setting has the wrong type.
    :raises ValueError: a setting has a wrong value.
    """

    url = check_url(settings["DATABASE_URL"])
    echo = settings["DATABASE_ECHO"]
    if not isinstance(echo, bool) and echo != "debug":
        raise TypeError(f"DATABASE_ECHO must be True, False or 'debug', got {echo!r}")
    pool_size = read_whole_number(settings, "DATABASE_POOL_SIZE", optional=True)
    migrations = settings["DATABASE_MIGRATIONS"]
    if not isinstance(migrations, str) or not migrations:
        raise TypeError(
            f"DATABASE_MIGRATIONS must be the path of a directory (a string), got {migrations!r}"
        )
    return Settings(
        url=url,
        echo=echo,
        pool_size=pool_size,
        pool_timeout=read_seconds(settings, "DATABASE_POOL_TIMEOUT"),
        migrations=migrations,
        connect_timeout=read_seconds(settings, "DATABASE_CONNECT_TIMEOUT"),
        queue_pool=issubclass(
            cast("type[DefaultDialect]", url.get_dialect()).get_pool_class(url), QueuePool
        ),
    )

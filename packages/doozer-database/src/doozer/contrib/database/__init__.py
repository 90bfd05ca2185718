"""SQLAlchemy (asyncio) for Doozer applications: an engine, a session per message, migrations.

:class:`Database` makes the application's engine at startup and disposes
of it at teardown. Each message is processed in a session of its own,
:attr:`Database.session`, committed when the message succeeded, before it
is acknowledged, and rolled back otherwise::

    from doozer import Application
    from doozer.contrib.database import Database

    async def store(app, message):
        db.session.add(Order(body=message.body))


    app = Application(
        "orders", {"DATABASE_URL": "postgresql+asyncpg://localhost/shop"}, callback=store
    )
    db = Database(app)

The ``doozer --app APP db ...`` commands run Alembic migrations from the
``DATABASE_MIGRATIONS`` directory; its ``env.py`` calls
:func:`run_migrations`. See :doc:`/database`.
"""

from __future__ import annotations

from .__about__ import __version__
from ._extension import STARTUP_ORDER, TEARDOWN_ORDER, WRAPPER_ORDER, Database
from ._migrations import run_migrations

__all__ = [
    "STARTUP_ORDER",
    "TEARDOWN_ORDER",
    "WRAPPER_ORDER",
    "Database",
    "__version__",
    "run_migrations",
]

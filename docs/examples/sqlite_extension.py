"""An example extension: one SQLite connection per application."""

from __future__ import annotations

import sqlite3

from doozer import Application, Extension


class SQLite(Extension):
    """Open a SQLite database when the application starts."""

    DEFAULT_SETTINGS = {"SQLITE_DATABASE": ":memory:"}

    def __init__(self, app: Application | None = None) -> None:
        self.connection: sqlite3.Connection | None = None
        super().__init__(app)

    def init_app(self, app: Application) -> None:
        super().init_app(app)
        app.startup(self.connect)
        app.teardown(self.disconnect)

    async def connect(self, app: Application) -> None:
        self.connection = sqlite3.connect(app.settings["SQLITE_DATABASE"])

    async def disconnect(self, app: Application) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

from __future__ import annotations

from typing import Any

import pytest

from doozer import Application, Extension


class Database(Extension):
    DEFAULT_SETTINGS = {"DB_HOST": "localhost", "DB_PORT": 5432}
    REQUIRED_SETTINGS = ("DB_USER", "DB_PASSWORD")


def test_defaults_fill_in_without_overriding() -> None:
    app = Application("svc", {"DB_PORT": 6432, "DB_USER": "u", "DB_PASSWORD": "p"})
    Database(app)
    assert app.settings["DB_HOST"] == "localhost"
    assert app.settings["DB_PORT"] == 6432


def test_missing_required_settings_are_all_named() -> None:
    app = Application("svc", {"DB_USER": "u"})
    with pytest.raises(KeyError, match=r"Database needs the setting\(s\) DB_PASSWORD"):
        Database(app)
    app = Application("svc")
    with pytest.raises(KeyError, match="DB_USER, DB_PASSWORD"):
        Database(app)


def test_app_property_before_and_after_init_app() -> None:
    extension = Database()
    with pytest.raises(RuntimeError, match=r"Database is not bound .* init_app\(app\)"):
        _ = extension.app
    app = Application("svc", {"DB_USER": "u", "DB_PASSWORD": "p"})
    extension.init_app(app)
    assert extension.app is app


def test_init_app_registers_the_extension() -> None:
    app = Application("svc", {"DB_USER": "u", "DB_PASSWORD": "p"})
    extension = Database(app)
    assert app.extensions == {"database": extension}


def test_init_app_calls_register_cli() -> None:
    calls: list[Any] = []

    class WithCommands(Extension):
        def register_cli(self) -> None:
            calls.append(self.app)

    app = Application("svc")
    WithCommands(app)
    assert calls == [app]


def test_defaults_are_not_shared_between_apps() -> None:
    first, second = Application("a"), Application("b")

    class Cache(Extension):
        DEFAULT_SETTINGS = {"CACHE_SIZE": 10}

    Cache(first)
    first.settings["CACHE_SIZE"] = 99
    Cache(second)
    assert second.settings["CACHE_SIZE"] == 10


class Transport(Extension):
    ONE_PER_APP = True


def test_one_per_app_refuses_a_second_instance_and_a_second_app() -> None:
    app = Application("svc")
    transport = Transport(app)
    with pytest.raises(RuntimeError, match=r"^Transport is already initialized on "):
        Transport(app)
    with pytest.raises(RuntimeError, match=r"^this Transport extension is already initialized"):
        transport.init_app(Application("other"))


def test_one_per_app_counts_subclasses_as_the_class_that_opted_in() -> None:
    class Special(Transport):
        pass

    app = Application("svc")
    Transport(app)
    with pytest.raises(RuntimeError, match=r"^Transport is already initialized on "):
        Special(app)


def test_extensions_may_be_initialized_on_several_apps_unless_one_per_app() -> None:
    extension = Database()
    for name in ("a", "b"):
        extension.init_app(Application(name, {"DB_USER": "u", "DB_PASSWORD": "p"}))
    assert extension.app.name == "b"


class Checked(Extension):
    DEFAULT_SETTINGS = {"CHECKED_SIZE": 1}

    def __init__(self, app: Application | None = None) -> None:
        self._size: int | None = None
        super().__init__(app)

    def read_settings(self, app: Application) -> None:
        size = app.settings["CHECKED_SIZE"]
        if not isinstance(size, int):
            raise TypeError(f"CHECKED_SIZE must be a whole number, got {size!r}")
        self._size = size

    @property
    def size(self) -> int:
        return self.initialized(self._size)


def test_read_settings_sees_the_defaults_and_a_failure_leaves_it_unbound() -> None:
    app = Application("svc", {"CHECKED_SIZE": "big"})
    extension = Checked()
    with pytest.raises(TypeError, match="CHECKED_SIZE"):
        extension.init_app(app)
    assert app.extensions == {}
    with pytest.raises(RuntimeError, match=r"Checked is not bound .* init_app\(app\)"):
        _ = extension.size
    assert Checked(Application("svc")).size == 1

from __future__ import annotations

import logging
import types
from typing import Any

import pytest

from doozer import Application


class Settings:
    NAME = "configured"
    lowercase = "ignored"


def test_defaults() -> None:
    app = Application("svc")
    assert app.name == "svc"
    assert app.settings["DEBUG"] is False
    assert app.settings["SHUTDOWN_TIMEOUT"] == 30
    assert app.consumer is None
    assert app.callback is None
    assert app.extensions == {}
    assert app.logger is logging.getLogger("svc")


def test_settings_from_object_module_and_mapping() -> None:
    assert Application("svc", Settings).settings["NAME"] == "configured"
    assert "lowercase" not in Application("svc", Settings).settings
    module = types.ModuleType("conf")
    module.DEBUG = True  # type: ignore[attr-defined]
    assert Application("svc", module).settings["DEBUG"] is True
    assert Application("svc", {"DEBUG": True, "x": 1}).settings == {
        "DEBUG": True,
        "SHUTDOWN_TIMEOUT": 30,
    }


@pytest.mark.parametrize("bad", ["DEBUG=1", b"x", 3, 2.5])
def test_settings_of_the_wrong_type(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"settings must be a mapping or an object .* not "):
        Application("svc", bad)


KINDS = [
    "startup",
    "message_preprocessor",
    "result_postprocessor",
    "error",
    "message_acknowledgement",
    "teardown",
]


@pytest.mark.parametrize("kind", KINDS)
def test_decorators_register_and_return_the_function(kind: str) -> None:
    app = Application("svc")

    async def first(*args: Any) -> None: ...

    async def second(*args: Any) -> None: ...

    assert getattr(app, kind)(first) is first
    assert getattr(app, kind)(second) is second
    assert getattr(app.callbacks, kind) == [first, second]


@pytest.mark.parametrize("kind", KINDS)
def test_decorators_reject_plain_functions(kind: str) -> None:
    app = Application("svc")

    def not_async(*args: Any) -> None: ...

    with pytest.raises(TypeError, match=rf"{kind} callback .*not_async.* 'async def'"):
        getattr(app, kind)(not_async)
    assert getattr(app.callbacks, kind) == []

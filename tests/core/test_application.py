from __future__ import annotations

import functools
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


KINDS = [  # every kind registered with an async callable
    "startup",
    "message_preprocessor",
    "result_postprocessor",
    "error",
    "message_acknowledgement",
    "teardown",
    "message_outcome",
    "failure_policy",
    "message_wrapper",
    "publish_wrapper",
]


@pytest.mark.parametrize("kind", KINDS)
def test_decorators_register_and_return_the_function(kind: str) -> None:
    app = Application("svc")

    async def first(*args: Any) -> None: ...

    async def second(*args: Any) -> None: ...

    assert getattr(app, kind)(first) is first
    assert getattr(app, kind)(second) is second
    assert list(getattr(app.callbacks, kind)) == [first, second]


@pytest.mark.parametrize("kind", KINDS)
def test_decorators_reject_plain_functions(kind: str) -> None:
    app = Application("svc")

    def not_async(*args: Any) -> None: ...

    with pytest.raises(TypeError, match=rf"{kind} callback .*not_async.* 'async def'"):
        getattr(app, kind)(not_async)
    assert list(getattr(app.callbacks, kind)) == []


class _AsyncCallable:
    async def __call__(self, *args: Any) -> None: ...


class _SyncCallable:
    def __call__(self, *args: Any) -> None: ...


async def _coroutine_function(*args: Any) -> None: ...


def _wraps_a_coroutine_function() -> Any:
    @functools.wraps(_coroutine_function)
    def wrapper(*args: Any) -> Any:
        return _coroutine_function(*args)

    return wrapper


@pytest.mark.parametrize(
    "callback",
    [
        _coroutine_function,
        functools.partial(_coroutine_function, "bound"),
        functools.partial(functools.partial(_coroutine_function, 1), 2),
        _wraps_a_coroutine_function(),
        _AsyncCallable(),
    ],
    ids=["coroutine-function", "partial", "partial-of-partial", "wraps", "async-call"],
)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_accepts_any_async_callable(kind: str, callback: Any) -> None:
    app = Application("svc")
    getattr(app, kind)(callback)
    assert list(getattr(app.callbacks, kind)) == [callback]


@pytest.mark.parametrize(
    "callback",
    [lambda *args: None, functools.partial(print), _SyncCallable(), _AsyncCallable, print],
    ids=["lambda", "partial-of-sync", "sync-call", "class", "builtin"],
)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_refuses_what_returns_no_awaitable(kind: str, callback: Any) -> None:
    app = Application("svc")
    with pytest.raises(TypeError, match=rf"^{kind} callback .* must be a coroutine function"):
        getattr(app, kind)(callback)


@pytest.mark.parametrize("kind", KINDS)
def test_order_decides_where_a_callback_runs_not_registration(kind: str) -> None:
    app = Application("svc")
    names: dict[str, Any] = {}
    for name, order in [("late", 10), ("default", 0), ("early", -10), ("default2", 0)]:

        async def callback(*args: Any) -> None: ...

        names[name] = callback
        getattr(app, kind)(callback, order=order)
    expected = [names[n] for n in ("early", "default", "default2", "late")]
    assert list(getattr(app.callbacks, kind)) == expected


def test_order_must_be_a_whole_number() -> None:
    with pytest.raises(TypeError, match="order must be a whole number"):
        Application("svc").startup(_coroutine_function, order=1.5)  # type: ignore[arg-type]


def test_callbacks_can_be_removed() -> None:
    app = Application("svc")
    app.teardown(_coroutine_function)
    app.callbacks.teardown.remove(_coroutine_function)
    assert len(app.callbacks.teardown) == 0
    with pytest.raises(ValueError, match="not in list"):
        app.callbacks.teardown.remove(_coroutine_function)

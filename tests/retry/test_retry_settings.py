"""Initializing Retry: defaults, required settings, validation and overrides."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import math
import os
from pathlib import Path
from typing import Any

import pytest

import doozer.contrib.retry
from doozer import Application, Extension
from doozer.contrib.retry import Retry, RetryableException
from doozer.outcomes import RetryLater

from .support import MakeApp, fail, running


async def other_callback(app: Application, message: Any) -> None:
    pass


def test_public_api_and_distribution() -> None:
    assert doozer.contrib.retry.__all__ == [
        "LONGEST_DELAY", "Retry", "RetryableException", "__version__"
    ]  # fmt: skip
    assert issubclass(Retry, Extension)
    assert issubclass(RetryableException, Exception)
    assert doozer.contrib.retry.__version__ == importlib.metadata.version("doozer-retry")


def test_namespace_packages_have_no_init(repo_root: Path) -> None:
    src = repo_root / "packages" / "doozer-retry" / "src"
    assert not (src / "doozer" / "__init__.py").exists()
    assert not (src / "doozer" / "contrib" / "__init__.py").exists()
    assert (src / "doozer" / "contrib" / "retry" / "py.typed").exists()
    contrib = importlib.import_module("doozer.contrib")
    assert getattr(contrib, "__file__", None) is None  # an implicit namespace package


def test_defaults_are_filled_in_and_the_extension_recorded(make_app: MakeApp) -> None:
    app = Application("defaults")
    retry = Retry(app)
    assert app.settings["RETRY_BACKOFF"] == 1
    assert app.settings["RETRY_CALLBACK"] is None
    assert app.settings["RETRY_DELAY"] == 0
    assert app.settings["RETRY_EXCEPTIONS"] is RetryableException
    assert app.settings["RETRY_THRESHOLD"] is None
    assert app.settings["RETRY_TIMEOUT"] is None
    assert app.extensions["retry"] is retry
    assert retry.app is app


def test_settings_already_set_are_kept(make_app: MakeApp) -> None:
    app = make_app(RETRY_DELAY=2, RETRY_THRESHOLD=7)
    Retry(app)
    assert app.settings["RETRY_DELAY"] == 2
    assert app.settings["RETRY_THRESHOLD"] == 7


def test_init_app_later_registers_one_failure_policy(make_app: MakeApp) -> None:
    app = make_app()
    retry = Retry()
    assert list(app.callbacks.failure_policy) == []
    retry.init_app(app)
    assert len(app.callbacks.failure_policy) == 1
    assert list(app.callbacks.error) == []  # Retry is no error callback any more


def test_error_callbacks_are_left_alone_whatever_the_order(make_app: MakeApp) -> None:
    async def first(app: Application, message: Any, exc: Exception) -> None:
        pass

    async def second(app: Application, message: Any, exc: Exception) -> None:
        pass

    before, after = make_app(), make_app()
    before.error(first)
    Retry(before)
    before.error(second)
    Retry(after)
    after.error(first)
    after.error(second)
    assert list(before.callbacks.error) == list(after.callbacks.error) == [first, second]


def test_its_policy_sits_at_retry_order(make_app: MakeApp) -> None:
    async def early(app: Application, original: Any, message: Any, exc: Exception) -> None:
        pass

    async def late(app: Application, original: Any, message: Any, exc: Exception) -> None:
        pass

    app = make_app()
    app.failure_policy(late, order=Retry.ORDER + 1)
    Retry(app)
    app.failure_policy(early, order=Retry.ORDER - 1)
    policies = list(app.callbacks.failure_policy)
    assert policies[0] is early
    assert policies[2] is late


def test_retry_callback_is_optional() -> None:
    """Deliveries retry on their broker; only plain messages need RETRY_CALLBACK."""
    app = Application("no-callback")
    Retry(app)
    assert app.settings["RETRY_CALLBACK"] is None
    assert len(app.callbacks.failure_policy) == 1


def test_callback_keyword_replaces_the_setting() -> None:
    app = Application("callback-keyword")
    Retry(app, callback=other_callback)
    assert app.settings["RETRY_CALLBACK"] is None  # the keyword wins without changing settings
    assert len(app.callbacks.failure_policy) == 1


def plain_function(app: Application, message: Any) -> None:
    pass


class AsyncCallable:
    async def __call__(self, app: Application, message: Any) -> None:
        pass


@pytest.mark.parametrize("callback", [plain_function, print, "module:callback", 42])
def test_callback_must_be_a_coroutine_function(make_app: MakeApp, callback: Any) -> None:
    app = make_app(RETRY_CALLBACK=callback)
    with pytest.raises(TypeError, match=r"^RETRY_CALLBACK must be a coroutine function"):
        Retry(app)
    assert list(app.callbacks.failure_policy) == []
    with pytest.raises(TypeError, match=r"passed as Retry\(callback=\.\.\.\)"):
        Retry(make_app(), callback=callback)


@pytest.mark.parametrize(
    "callback",
    [other_callback, functools.partial(other_callback), AsyncCallable(), None],
    ids=["coroutine function", "partial", "async __call__", "None"],
)
def test_async_callables_are_accepted_as_callback(make_app: MakeApp, callback: Any) -> None:
    Retry(make_app(RETRY_CALLBACK=callback))
    Retry(make_app(), callback=callback)


BAD_FACTORS = [-1, -0.001, "1", None, True, math.nan, math.inf, [1]]


@pytest.mark.parametrize("name", ["RETRY_DELAY", "RETRY_BACKOFF"])
@pytest.mark.parametrize("value", BAD_FACTORS)
def test_delay_and_backoff_must_be_numbers_at_least_zero(
    make_app: MakeApp, name: str, value: Any
) -> None:
    app = make_app(**{name: value})
    with pytest.raises(ValueError, match=rf"^{name} must be a number .*>= 0.*from app\.settings"):
        Retry(app)
    assert list(app.callbacks.failure_policy) == []
    assert app.extensions == {}


@pytest.mark.parametrize("value", [-1, 1.5, "3", True, math.nan])
def test_threshold_must_be_none_or_a_whole_number_at_least_zero(
    make_app: MakeApp, value: Any
) -> None:
    with pytest.raises(ValueError, match=r"^RETRY_THRESHOLD must be a whole number .*or None"):
        Retry(make_app(RETRY_THRESHOLD=value))


@pytest.mark.parametrize("value", [-1, -0.5, "10", True, math.nan])
def test_timeout_must_be_none_or_seconds_at_least_zero(make_app: MakeApp, value: Any) -> None:
    with pytest.raises(ValueError, match=r"^RETRY_TIMEOUT must be a number of seconds"):
        Retry(make_app(RETRY_TIMEOUT=value))


@pytest.mark.parametrize(
    "value", ["ValueError", ValueError("x"), [ValueError], (ValueError, "x"), KeyboardInterrupt]
)
def test_exceptions_must_be_exception_classes(make_app: MakeApp, value: Any) -> None:
    with pytest.raises(TypeError, match=r"^RETRY_EXCEPTIONS must be an exception class or a tuple"):
        Retry(make_app(RETRY_EXCEPTIONS=value))


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("delay", 0),
        ("delay", 0.5),
        ("backoff", 0),
        ("backoff", 2.5),
        ("threshold", 0),
        ("threshold", None),
        ("threshold", 3),
        ("timeout", 0),
        ("timeout", 1.5),
        ("timeout", math.inf),
        ("timeout", None),
        ("exceptions", KeyError),
        ("exceptions", (KeyError, ValueError)),
        ("exceptions", ()),
    ],
)
def test_valid_values_are_accepted(make_app: MakeApp, keyword: str, value: Any) -> None:
    Retry(make_app(), **{keyword: value})
    Retry(make_app(**{f"RETRY_{keyword.upper()}": value}))


def test_errors_are_one_line_naming_where_the_value_came_from(make_app: MakeApp) -> None:
    with pytest.raises(ValueError, match=r"passed as Retry\(delay=\.\.\.\)") as info:
        Retry(make_app(RETRY_DELAY=1), delay=-3)
    message = str(info.value)
    assert message.startswith("RETRY_DELAY must be")
    assert "-3" in message
    assert os.linesep not in message
    assert "\n" not in message


def test_initializing_an_application_twice_is_refused(make_app: MakeApp) -> None:
    app = make_app()
    Retry(app)
    with pytest.raises(RuntimeError, match="already initialized"):
        Retry(app)
    assert len(app.callbacks.failure_policy) == 1


async def test_keyword_arguments_take_precedence_over_settings(
    make_app: MakeApp, republished: list[Any]
) -> None:
    app = make_app(RETRY_THRESHOLD=5, RETRY_EXCEPTIONS=KeyError, RETRY_DELAY=7)
    Retry(app, threshold=1, exceptions=ValueError, delay=0.5)
    message: dict[str, Any] = {}
    async with running(app):
        assert await fail(app, message, KeyError("not retried: the override wins")) is None
        outcome = await fail(app, message, ValueError())
        assert isinstance(outcome, RetryLater)
        assert outcome.delay == 0.5
        assert await fail(app, message, ValueError()) is None  # threshold=1 reached, not 5
    assert republished == [message]


async def test_none_keyword_overrides_a_setting(make_app: MakeApp) -> None:
    app = make_app(RETRY_THRESHOLD=0)
    Retry(app, threshold=None)
    message: dict[str, Any] = {}
    async with running(app):
        for _ in range(20):
            assert await fail(app, message) is not None


async def test_callback_keyword_is_used_instead_of_the_setting(
    make_app: MakeApp, republished: list[Any]
) -> None:
    called: list[Any] = []

    async def mine(app: Application, message: Any) -> None:
        called.append(message)

    app = make_app()
    Retry(app, callback=mine)
    message: dict[str, Any] = {}
    async with running(app):
        assert await fail(app, message) is not None
    assert called == [message]
    assert republished == []


async def test_one_instance_serves_several_applications(make_app: MakeApp) -> None:
    once, twice = make_app(RETRY_THRESHOLD=1), make_app(RETRY_THRESHOLD=2)
    retry = Retry(exceptions=(RetryableException, KeyError))
    retry.init_app(once)
    retry.init_app(twice)
    assert once.extensions["retry"] is twice.extensions["retry"] is retry

    async def retries(app: Application) -> int:
        message: dict[str, Any] = {}
        count = 0
        while await fail(app, message, KeyError()) is not None:
            count += 1
        return count

    async with running(once), running(twice):
        assert await retries(once) == 1
        assert await retries(twice) == 2
        assert await retries(once) == 1  # each application keeps its own settings


async def test_settings_are_read_once_by_init_app(make_app: MakeApp) -> None:
    app = make_app(RETRY_THRESHOLD=1)
    Retry(app)
    app.settings["RETRY_THRESHOLD"] = 0  # too late: init_app already fixed the settings
    async with running(app):
        assert await fail(app, {}) is not None

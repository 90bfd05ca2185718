"""Fixtures for the core tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from doozer import Application

from .support import ListConsumer, echo


@pytest.fixture
def make_app() -> Callable[..., Application]:
    """Build an application over a list of messages, echoing each one."""

    def make(messages: Iterable[Any] = (), callback: Any = echo, **kwargs: Any) -> Application:
        return Application("test", consumer=ListConsumer(messages), callback=callback, **kwargs)

    return make

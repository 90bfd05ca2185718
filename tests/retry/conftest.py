"""Fixtures for the retry tests."""

from __future__ import annotations

from typing import Any

import pytest

from doozer import Application

from .support import MakeApp


@pytest.fixture
def republished() -> list[Any]:
    """What the RETRY_CALLBACK of ``make_app`` applications received."""
    return []


@pytest.fixture
def make_app(republished: list[Any]) -> MakeApp:
    """Build an application whose RETRY_CALLBACK records into ``republished``."""

    async def retry_callback(app: Application, message: Any) -> None:
        republished.append(message)

    def make(**settings: Any) -> Application:
        return Application("retry-test", {"RETRY_CALLBACK": retry_callback, **settings})

    return make

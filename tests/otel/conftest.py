"""Fixtures for the doozer-otel tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import Telemetry


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """An SDK tracer and meter provider for one test, exporting to memory."""
    handle = Telemetry()
    try:
        yield handle
    finally:
        handle.shutdown()

"""Fixtures for the doozer-logging tests: logging put back as it was after each test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from doozer.contrib.logging._configure import restore


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        restore()
        root.setLevel(level)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)

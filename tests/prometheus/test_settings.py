"""Prometheus(app) checks its settings when it is initialized."""

from __future__ import annotations

from typing import Any

import pytest

from doozer import Application
from doozer.contrib.prometheus import DEFAULT_BUCKETS, Prometheus


def make(**settings: Any) -> Application:
    return Application("settings-test", settings)


def test_defaults() -> None:
    app = make()
    Prometheus(app)
    assert app.settings["PROMETHEUS_HOST"] == "0.0.0.0"
    assert app.settings["PROMETHEUS_PORT"] == 9100
    assert app.settings["PROMETHEUS_BUCKETS"] == DEFAULT_BUCKETS
    assert app.extensions["prometheus"].port is None  # not listening until startup


def test_numbers_from_the_environment_are_accepted() -> None:
    Prometheus(make(PROMETHEUS_PORT="9200", PROMETHEUS_STALL_TIMEOUT="12.5"))


@pytest.mark.parametrize(
    ("name", "value", "error", "match"),
    [
        ("PROMETHEUS_PORT", 70000, ValueError, "PROMETHEUS_PORT must be a port number"),
        ("PROMETHEUS_PORT", "http", ValueError, "PROMETHEUS_PORT must be a port number"),
        ("PROMETHEUS_HOST", None, TypeError, "PROMETHEUS_HOST must be a non-empty string"),
        ("PROMETHEUS_LIVENESS_TIMEOUT", 0, ValueError, "PROMETHEUS_LIVENESS_TIMEOUT must be"),
        ("PROMETHEUS_LIVENESS_TIMEOUT", None, ValueError, "> 0, got None"),
        ("PROMETHEUS_STALL_TIMEOUT", -1, ValueError, "PROMETHEUS_STALL_TIMEOUT must be"),
        ("PROMETHEUS_BUCKETS", [1, 0.5], ValueError, "PROMETHEUS_BUCKETS must be increasing"),
        ("PROMETHEUS_BUCKETS", "1,2", TypeError, "PROMETHEUS_BUCKETS must be increasing"),
    ],
)
def test_bad_settings_are_one_clear_error(
    name: str, value: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Prometheus(make(**{name: value}))


def test_stall_detection_can_be_turned_off() -> None:
    Prometheus(make(PROMETHEUS_STALL_TIMEOUT=None))

"""The configuration page's examples do what the page says."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

from doozer import Application
from doozer.amqp import AMQP
from doozer.config import Config

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.rst"


def test_the_masking_example_shows_what_repr_shows() -> None:
    session = re.search(r">>> (.+)\n\s+(Config\(.+\))\n", PAGE.read_text())
    assert session is not None
    expression, shown = session.groups()
    assert repr(eval(expression, {"Config": Config})) == shown  # the page's own code


def test_the_environment_wins_over_the_module_and_extensions_fill_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for line in re.findall(r"\$ export (DOOZER_\w+=.+)", PAGE.read_text()):
        name, value = line.split("=", 1)
        monkeypatch.setenv(name, value.strip("'"))
    settings = types.SimpleNamespace(AMQP_URL="amqp://guest:guest@rabbit/", SHUTDOWN_TIMEOUT=60)
    app = Application("billing", settings)
    app.settings.from_prefixed_env()
    AMQP(app)
    assert app.settings["SHUTDOWN_TIMEOUT"] == 10
    assert app.settings["AMQP_INBOUND_QUEUE"] == "orders"
    assert app.settings["AMQP_INBOUND_ROUTING_KEYS"] == ["order.*", "refund.*"]
    assert app.settings["AMQP_URL"] == "amqp://guest:guest@rabbit/"  # from the module
    assert app.settings["AMQP_HEARTBEAT"] == 15  # AMQP's default, filled in

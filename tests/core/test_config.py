from __future__ import annotations

import types

from doozer.config import Config


def test_from_mapping_takes_uppercase_keys_only() -> None:
    config = Config(KEEP=1)
    config.from_mapping({"HOST": "db", "port": 5432, "Mixed": 1, "KEEP": 2})
    assert config == {"HOST": "db", "KEEP": 2}


def test_from_object_takes_uppercase_attributes_only() -> None:
    settings = types.SimpleNamespace(TIMEOUT=3, retries=5, _PRIVATE_lower=1)
    config = Config()
    config.from_object(settings)
    assert config == {"TIMEOUT": 3}


def test_from_object_reads_classes_and_modules() -> None:
    class Settings:
        NAME = "svc"
        helper = "ignored"

    module = types.ModuleType("settings")
    module.DB_URL = "sqlite://"  # type: ignore[attr-defined]
    config = Config()
    config.from_object(Settings)
    config.from_object(module)
    assert config == {"NAME": "svc", "DB_URL": "sqlite://"}


def test_config_is_a_dict() -> None:
    assert isinstance(Config(), dict)

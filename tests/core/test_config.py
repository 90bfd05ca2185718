from __future__ import annotations

import types

import pytest

from doozer.config import Config, is_secret, mask_url


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


class TestPrefixedEnvironment:
    def test_values_are_json_when_they_parse_else_strings(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DOOZER_AMQP_URL", "amqp://broker/")
        monkeypatch.setenv("DOOZER_SHUTDOWN_TIMEOUT", "10")
        monkeypatch.setenv("DOOZER_DEBUG", "true")
        monkeypatch.setenv("DOOZER_ROUTES", '["a", "b"]')
        monkeypatch.setenv("OTHER_THING", "ignored")
        config = Config()
        assert config.from_prefixed_env() is True
        assert config["AMQP_URL"] == "amqp://broker/"
        assert config["SHUTDOWN_TIMEOUT"] == 10
        assert config["DEBUG"] is True
        assert config["ROUTES"] == ["a", "b"]
        assert "THING" not in config
        assert "OTHER_THING" not in config

    def test_another_prefix_and_parser(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SVC_NAME", "x")
        monkeypatch.setenv("SVC_lower", "ignored: settings are UPPERCASE")
        config = Config()
        config.from_prefixed_env("SVC_", loads=str.upper)
        assert config == {"NAME": "X"}


class TestMasking:
    SECRETS = {
        "AMQP_URL": "amqp://guest:hunter2@broker:5672/vhost",
        "NATS_URL": "nats://a:hunter2@x:4222,nats://b:hunter2@y:4222",
        "REDIS_URL": "redis://:hunter2@localhost:6379/0",
        "DATABASE_PASSWORD": "hunter2",
        "API_KEY": "hunter2",
        "SIGNING_SECRET": "hunter2",
        "NATS_TOKEN": "hunter2",
    }

    def test_repr_and_str_show_no_secret(self) -> None:
        config = Config(self.SECRETS, AMQP_OUTBOUND_ROUTING_KEY="orders", WORKERS=4)
        for text in (repr(config), str(config)):
            assert "hunter2" not in text
            assert "'AMQP_OUTBOUND_ROUTING_KEY': 'orders'" in text
            assert "'WORKERS': 4" in text
            assert "amqp://guest:***@broker:5672/vhost" in text
        assert config["API_KEY"] == "hunter2"  # the values themselves are untouched

    @pytest.mark.parametrize(
        ("name", "secret"),
        [
            ("PASSWORD", True),
            ("REDIS_PASSWORD", True),
            ("API_KEY", True),
            ("KEYRING_PATH", False),
            ("AMQP_OUTBOUND_ROUTING_KEY", False),
            ("AMQP_INBOUND_ROUTING_KEYS", False),
            ("MONKEY", False),
            ("AUTH_TOKEN", True),
        ],
    )
    def test_which_names_hold_secrets(self, name: str, secret: bool) -> None:
        assert is_secret(name) is secret

    @pytest.mark.parametrize(
        ("url", "masked"),
        [
            ("amqp://u:p@h/", "amqp://u:***@h/"),
            ("amqps://u:p%40ss@h:5671/v", "amqps://u:***@h:5671/v"),
            ("redis://:p@h:6379/0", "redis://:***@h:6379/0"),
            ("amqp://h/", "amqp://h/"),
            ("amqp://user@h/", "amqp://user@h/"),
            ("nats://s3cret@h:4222", "nats://***@h:4222"),
            ("nats://a:b@x:1,nats://tok@y:2", "nats://a:***@x:1,nats://***@y:2"),
            ("not a url", "not a url"),
        ],
    )
    def test_mask_url(self, url: str, masked: str) -> None:
        assert mask_url(url) == masked

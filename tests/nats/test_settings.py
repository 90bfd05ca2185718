"""Settings, one-line errors, and credentials that never show."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

import pytest
from nats.aio.client import Client

from doozer import Application
from doozer.nats import STARTUP_ORDER, TEARDOWN_ORDER, JetStream
from tests.support.faults import HungPeer
from tests.support.processes import Process

from .support import Streams

ROOT = Path(__file__).resolve().parents[2]


async def nothing(app: Application, message: object) -> None:
    return None


def make(settings: dict[str, object]) -> JetStream:
    return JetStream(Application("settings-test", settings, callback=nothing))


@pytest.mark.parametrize(
    ("url", "culprit"),
    [
        ("http://user:hunter2@example.com:4222", "http://user:***@example.com:4222"),
        ("nats://user:hunter2@example.com:port", "nats://user:***@example.com:port"),
        ("nats://127.0.0.1:4222,nats://hunter2@:4222", "nats://***@:4222"),
        ("", "''"),
    ],
)
def test_a_bad_url_is_one_line_at_init_app_without_secrets(url: str, culprit: str) -> None:
    with pytest.raises(ValueError, match="NATS_URL") as caught:
        make({"NATS_URL": url})
    text = str(caught.value)
    assert "\n" not in text
    assert culprit in text
    assert "hunter2" not in text


def test_settings_are_checked_at_init_app() -> None:
    with pytest.raises(ValueError, match="NATS_MAX_DELIVER"):
        make({"NATS_MAX_DELIVER": 0})
    with pytest.raises(ValueError, match="NATS_USER and NATS_PASSWORD"):
        make({"NATS_USER": "me"})
    with pytest.raises(ValueError, match=r"NATS_CREDS '/no/such\.creds' is not a readable file"):
        make({"NATS_CREDS": "/no/such.creds"})
    # The test environment, like doozer-nats, does not install nkeys.
    with pytest.raises(ValueError, match=r"^NATS_CREDS needs the nkeys package .*install nkeys"):
        make({"NATS_CREDS": __file__})
    with pytest.raises(ValueError, match=r"NATS_STREAM 'a\.b' is not a JetStream name"):
        make({"NATS_STREAM": "a.b"})
    with pytest.raises(ValueError, match="dead letters would be consumed again"):
        make({"NATS_SUBJECTS": ["orders.>"], "NATS_DEAD_LETTER_SUBJECT": "orders.dead"})
    with pytest.raises(KeyError, match="NATS_STREAM"):
        make({}).consumer()


def test_callbacks_run_first_and_close_last() -> None:
    extension = make({"NATS_STREAM": "S"})
    app = extension.app
    assert app.callbacks.startup[0].__name__ == "_open"
    assert app.callbacks.teardown[-1].__name__ == "_close"
    assert (STARTUP_ORDER, TEARDOWN_ORDER) == (-1000, 1000)
    assert extension.consumer() is extension.consumer()
    assert extension.consumer().destination == "S"


async def test_secrets_never_show(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with HungPeer() as peer:
        extension = make(
            {
                "NATS_URL": f"nats://admin:hunter2@127.0.0.1:{peer.port},nats://tok3n@127.0.0.1:1",
                "NATS_STREAM": "S",
                "NATS_INBOUND_SUBJECT": "s.in",
                "NATS_TOKEN": "t0ken-secret",
                "NATS_CONNECT_TIMEOUT": 1,
            }
        )
        consumer = extension.consumer()
        with pytest.raises(ConnectionError) as caught:
            await extension.connection.open()
    shown = [
        str(caught.value),
        repr(consumer),
        repr(extension.connection),
        extension.connection.state,
        caplog.text,
    ]
    for text in shown:
        assert "hunter2" not in text
        assert "tok3n" not in text
        assert "t0ken-secret" not in text
    # doozer.config masks passwords in URLs, not a token alone (nats://token@host):
    # reported to the core's owner; the password and NATS_TOKEN are masked.
    settings = repr(extension.app.settings)
    assert "hunter2" not in settings
    assert "t0ken-secret" not in settings
    assert "nats://admin:***@127.0.0.1" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert repr(consumer) == "<Consumer S/s.in durable='settings-test'>"


async def test_a_connection_attempt_that_ignores_cancellation_is_still_given_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nats-py's connection loop swallows CancelledError in places: an attempt
    # cancelled at its deadline may go on reconnecting. Opening must not wait
    # for it forever; closing the client is what ends it.
    attempts: list[Client] = []

    async def stubborn_connect(client: Client, **options: object) -> None:
        attempts.append(client)
        while not client.is_closed:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)

    monkeypatch.setattr(Client, "connect", stubborn_connect)
    extension = make({"NATS_URL": "nats://127.0.0.1:4222", "NATS_CONNECT_TIMEOUT": 1})
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="NATS_CONNECT_TIMEOUT"):
        await asyncio.wait_for(extension.connection.open(), 30)
    assert time.monotonic() - started < 15
    assert attempts
    assert all(client.is_closed for client in attempts)


def test_an_unreachable_server_is_one_line_naming_it(streams: Streams, tmp_path: Path) -> None:
    with HungPeer() as peer:
        service = Process(
            ["-m", "doozer", "run", "tests.nats.service:app"],
            cwd=ROOT,
            env={
                "DOOZER_TEST_NATS_URL": f"nats://me:hunter2@127.0.0.1:{peer.port}",
                "DOOZER_TEST_STREAM": streams.stream,
                "DOOZER_TEST_OUTPUT": str(tmp_path / "out"),
                "DOOZER_TEST_CONNECT_TIMEOUT": "2",
            },
        )
        try:
            assert service.finish(timeout=30) != 0
        finally:
            service.kill()
    errors = service.output("stderr")
    assert "Traceback" not in errors
    assert f"cannot connect to NATS at nats://me:***@127.0.0.1:{peer.port}" in errors
    assert "NATS_CONNECT_TIMEOUT" in errors
    assert "hunter2" not in errors + service.output("stdout")
    assert "closed for good" not in errors  # the attempts' clients are closed on purpose
    assert signal.SIGTERM  # the process ended on its own

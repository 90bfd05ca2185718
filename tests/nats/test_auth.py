"""Credentials against a nats-server of the test's own that asks for them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .servers import OwnServer, first_connection, publish, round_trip
from .support import Streams

# A server of their own, and connection attempts that time out: ~25 s each module.
pytestmark = pytest.mark.slow

PASSWORD = "pa55-hunter2"
TOKEN = "t0ken-hunter2"


def users(directory: Path) -> OwnServer:
    return OwnServer(directory, f'authorization {{ user: "svc", password: "{PASSWORD}" }}')


def tokens(directory: Path) -> OwnServer:
    return OwnServer(directory, f'authorization {{ token: "{TOKEN}" }}')


async def test_a_user_and_password_connect_in_settings_or_in_the_url(tmp_path: Path) -> None:
    with users(tmp_path) as server:
        streams = Streams(server.url, "auth")
        await publish(streams, b"one", user="svc", password=PASSWORD)
        seen = await round_trip(streams, NATS_USER="svc", NATS_PASSWORD=PASSWORD)
        assert seen == [b"one"]
        await publish(streams, b"two", user="svc", password=PASSWORD)
        in_url = Streams(f"nats://svc:{PASSWORD}@127.0.0.1:{server.port}", "auth")
        assert await round_trip(in_url) == [b"two"]


async def test_a_token_connects(tmp_path: Path) -> None:
    with tokens(tmp_path) as server:
        streams = Streams(server.url, "token")
        await publish(streams, b"tok", token=TOKEN)
        assert await round_trip(streams, NATS_TOKEN=TOKEN) == [b"tok"]


@pytest.mark.parametrize(
    ("server", "settings"),
    [
        (users, {"NATS_USER": "svc", "NATS_PASSWORD": "wrong-hunter2"}),
        (users, {}),
        (tokens, {"NATS_TOKEN": "wrong-hunter2"}),
    ],
)
async def test_refused_credentials_are_one_line_without_secrets(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    server: Callable[[Path], OwnServer],
    settings: dict[str, str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with server(tmp_path) as own:
        started = time.monotonic()
        message = await first_connection(own.url, NATS_CONNECT_TIMEOUT=30, **settings)
        assert time.monotonic() - started < 10  # one attempt: the answer would not change
    assert message == (
        f"cannot connect to NATS at {own.url}: the server refused the credentials "
        "(Authorization Violation): check NATS_USER and NATS_PASSWORD, NATS_TOKEN, "
        "NATS_CREDS, or those in NATS_URL"
    )
    everything = message + "\n".join(record.getMessage() for record in caplog.records)
    assert "hunter2" not in everything

"""rediss:// against a TLS-terminating proxy the test owns, with CAs the test makes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from doozer import Application
from doozer.redis import Message, RedisStreams
from tests.support.tls import TLSProxy, issue, make_authority

from .support import Streams
from .test_delivery import make_app, serve_until


def tls_url(proxy: TLSProxy) -> str:
    return f"rediss://user:hunter2@127.0.0.1:{proxy.port}/0"


async def round_trip(streams: Streams, url: str, **settings: Any) -> list[bytes]:
    """Serve the inbound stream's one entry over *url*; return what was processed."""
    seen: list[bytes] = []
    done = asyncio.Event()

    async def process(app: Application, message: Message) -> None:
        assert message.body is not None
        seen.append(message.body)
        done.set()

    app, _ = make_app(streams, process, REDIS_URL=url, **settings)
    await serve_until(app, done)
    return seen


async def first_connection(url: str, **settings: Any) -> str:
    """The one line that connecting to *url* fails with."""
    timeouts = {"REDIS_CONNECT_TIMEOUT": 1, "REDIS_RECONNECT_DELAY": 0.1}
    app = Application("tls", {"REDIS_URL": url, **timeouts, **settings})
    redis = RedisStreams(app)
    with pytest.raises(ConnectionError) as caught:
        await redis.connection.open()
    await redis.connection.close()
    message = str(caught.value)
    assert "\n" not in message
    assert "hunter2" not in message
    return message


async def test_the_right_ca_connects(streams: Streams, tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    cert, key = issue(ca, tmp_path, "redis", server=True)
    streams.add([b"over tls"])
    with TLSProxy(cert, key, upstream_port=6379) as proxy:
        seen = await round_trip(
            streams, f"rediss://127.0.0.1:{proxy.port}/0", REDIS_TLS_CA_FILE=str(ca.cert)
        )
    assert seen == [b"over tls"]
    assert streams.pending("redis-test") == 0


async def test_verification_is_on_and_a_wrong_ca_is_one_line_at_once(tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    other = make_authority(tmp_path, "other-ca")
    cert, key = issue(ca, tmp_path, "redis", server=True)
    with TLSProxy(cert, key, upstream_port=6379) as proxy:
        for settings in ({}, {"REDIS_TLS_CA_FILE": str(other.cert)}):
            started = asyncio.get_running_loop().time()
            message = await first_connection(tls_url(proxy), **settings)
            # Not retried for REDIS_CONNECT_TIMEOUT: the certificate will not change.
            assert asyncio.get_running_loop().time() - started < 1
            assert message.startswith("cannot connect to Redis at rediss://user:***@127.0.0.1:")
            assert "TLS certificate verification failed" in message
            assert "REDIS_TLS_CA_FILE" in message


async def test_a_client_certificate_is_presented(streams: Streams, tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    cert, key = issue(ca, tmp_path, "redis", server=True)
    client_cert, client_key = issue(ca, tmp_path, "service", server=False)
    streams.add([b"mutual"])
    with TLSProxy(cert, key, upstream_port=6379, client_ca=ca.cert) as proxy:
        seen = await round_trip(
            streams,
            f"rediss://127.0.0.1:{proxy.port}/0",
            REDIS_TLS_CA_FILE=str(ca.cert),
            REDIS_TLS_CERT_FILE=str(client_cert),
            REDIS_TLS_KEY_FILE=str(client_key),
        )
        assert seen == [b"mutual"]
        # Without one, the proxy refuses the handshake; to the client (TLS 1.3) that
        # is a connection closed, retried like one until REDIS_CONNECT_TIMEOUT.
        message = await first_connection(tls_url(proxy), REDIS_TLS_CA_FILE=str(ca.cert))
    assert message.startswith("cannot connect to Redis at rediss://user:***@127.0.0.1:")
    assert "REDIS_CONNECT_TIMEOUT" in message


@pytest.mark.parametrize(
    ("settings", "culprit"),
    [
        ({"REDIS_TLS_CA_FILE": "/nowhere/ca.pem"}, "REDIS_TLS_CA_FILE '/nowhere/ca.pem' is not"),
        ({"REDIS_TLS_CERT_FILE": __file__}, "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go"),
        (
            {"REDIS_URL": "redis://h:6379/0", "REDIS_TLS_CA_FILE": __file__},
            "REDIS_TLS_* settings need a TLS connection: REDIS_URL must start with rediss://",
        ),
    ],
)
def test_tls_settings_are_checked_at_init_app(settings: dict[str, Any], culprit: str) -> None:
    app = Application("tls", {"REDIS_URL": "rediss://h:6379/0", **settings})
    with pytest.raises(ValueError, match="^" + re.escape(culprit)) as caught:
        RedisStreams(app)
    assert "\n" not in str(caught.value)

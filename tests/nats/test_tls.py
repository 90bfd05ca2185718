"""tls:// against a nats-server of the test's own, with TLS, JetStream and CAs the test makes.

NATS negotiates TLS inside its protocol (the server's INFO comes first), so a
TLS-terminating proxy cannot stand in for the server here: the test starts one
(:class:`~tests.nats.support.OwnServer`).
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest

from tests.support.tls import issue, make_authority

from .servers import OwnServer, first_connection, publish, round_trip
from .support import Streams

# A server of their own, and connection attempts that time out: ~25 s each module.
pytestmark = pytest.mark.slow


def tls_server(directory: Path, cert: Path, key: Path, client_ca: Path | None = None) -> OwnServer:
    """A server speaking TLS only; clients must present a certificate signed by *client_ca*."""
    clients = f'ca_file: "{client_ca}"\n    verify: true\n' if client_ca else ""
    config = f'tls {{\n    cert_file: "{cert}"\n    key_file: "{key}"\n    {clients}}}'
    return OwnServer(directory, config, scheme="tls")


async def test_the_right_ca_connects(tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    cert, key = issue(ca, tmp_path, "nats", server=True)
    with tls_server(tmp_path, cert, key) as server:
        streams = Streams(server.url, "tls")
        trusting = ssl.create_default_context(cafile=ca.cert)
        await publish(streams, b"over tls", tls=trusting)
        seen = await round_trip(streams, NATS_TLS_CA_FILE=str(ca.cert))
    assert seen == [b"over tls"]


async def test_verification_is_on_and_a_wrong_ca_is_one_line_at_once(tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    other = make_authority(tmp_path, "other-ca")
    cert, key = issue(ca, tmp_path, "nats", server=True)
    with tls_server(tmp_path, cert, key) as server:
        for settings in ({}, {"NATS_TLS_CA_FILE": str(other.cert)}):
            started = time.monotonic()
            message = await first_connection(server.url, NATS_CONNECT_TIMEOUT=30, **settings)
            # One attempt (a few seconds at most), not NATS_CONNECT_TIMEOUT of them:
            # trying again would not change the certificate.
            assert time.monotonic() - started < 10
            assert message.startswith(f"cannot connect to NATS at {server.url}: ")
            assert "TLS certificate verification failed" in message
            assert "NATS_TLS_CA_FILE" in message


async def test_a_client_certificate_is_presented(tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    cert, key = issue(ca, tmp_path, "nats", server=True)
    client_cert, client_key = issue(ca, tmp_path, "service", server=False)
    with tls_server(tmp_path, cert, key, client_ca=ca.cert) as server:
        streams = Streams(server.url, "mutual")
        context = ssl.create_default_context(cafile=ca.cert)
        context.load_cert_chain(client_cert, client_key)
        await publish(streams, b"mutual", tls=context)
        seen = await round_trip(
            streams,
            NATS_TLS_CA_FILE=str(ca.cert),
            NATS_TLS_CERT_FILE=str(client_cert),
            NATS_TLS_KEY_FILE=str(client_key),
        )
        assert seen == [b"mutual"]
        # Without one, the server refuses the handshake: one line, after one attempt.
        message = await first_connection(
            server.url, NATS_TLS_CA_FILE=str(ca.cert), NATS_CONNECT_TIMEOUT=30
        )
    assert message.startswith(f"cannot connect to NATS at {server.url}: ")
    assert "set NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE" in message

"""tls:// against a nats-server of the test's own, with TLS, JetStream and CAs the test makes.

NATS negotiates TLS inside its protocol (the server's INFO comes first), so a
TLS-terminating proxy cannot stand in for the server here: the test starts one.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import nats
import pytest

from doozer import Application
from doozer.nats import JetStream, Message
from tests.support.tls import issue, make_authority

from .support import Streams
from .test_delivery import Running, make_app, until


class TLSServer:
    """``nats-server`` with JetStream on a free port of 127.0.0.1, speaking TLS only.

    :param client_ca: if given, clients must present a certificate signed by it.
    """

    def __init__(self, directory: Path, cert: Path, key: Path, client_ca: Path | None = None):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        clients = f'ca_file: "{client_ca}"\n    verify: true\n' if client_ca else ""
        self.config = directory / "nats.conf"
        self.config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'jetstream {{ store_dir: "{directory / "jetstream"}" }}\n'
            f'tls {{\n    cert_file: "{cert}"\n    key_file: "{key}"\n    {clients}}}\n'
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"tls://127.0.0.1:{self.port}"

    def __enter__(self) -> TLSServer:
        server = shutil.which("nats-server")
        assert server, "nats-server is not installed (.ci/run installs it)"
        self.process = subprocess.Popen(
            [server, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while True:
            assert self.process.poll() is None, self.process.communicate()[1].decode()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, "nats-server did not start listening"
                time.sleep(0.05)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.communicate(timeout=10)


async def publish(url: str, context: ssl.SSLContext, streams: Streams, body: bytes) -> None:
    client = await nats.connect(url, tls=context)
    try:
        js = client.jetstream()
        await js.add_stream(name=streams.stream, subjects=[streams.inbound, streams.outbound])
        await js.publish(streams.inbound, body)
    finally:
        await client.close()


async def round_trip(streams: Streams, **settings: Any) -> list[bytes]:
    seen: list[bytes] = []

    async def process(app: Application, message: Message) -> None:
        seen.append(message.body)

    app, _ = make_app(streams, process, **settings)
    async with Running(app):
        await until(lambda: seen, "the message")
    return seen


async def first_connection(url: str, **settings: Any) -> str:
    """The one line that connecting to *url* fails with."""
    app = Application(
        "tls",
        {"NATS_URL": url, "NATS_CONNECT_TIMEOUT": 1, "NATS_RECONNECT_DELAY": 0.1, **settings},
    )
    extension = JetStream(app)
    with pytest.raises(ConnectionError) as caught:
        await extension.connection.open()
    await extension.connection.close()
    message = str(caught.value)
    assert "\n" not in message
    return message


async def test_the_right_ca_connects(tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    cert, key = issue(ca, tmp_path, "nats", server=True)
    with TLSServer(tmp_path, cert, key) as server:
        streams = Streams(server.url, "tls")
        trusting = ssl.create_default_context(cafile=ca.cert)
        await publish(server.url, trusting, streams, b"over tls")
        seen = await round_trip(streams, NATS_TLS_CA_FILE=str(ca.cert))
    assert seen == [b"over tls"]


async def test_verification_is_on_and_a_wrong_ca_is_one_line_at_once(tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    other = make_authority(tmp_path, "other-ca")
    cert, key = issue(ca, tmp_path, "nats", server=True)
    with TLSServer(tmp_path, cert, key) as server:
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
    with TLSServer(tmp_path, cert, key, client_ca=ca.cert) as server:
        streams = Streams(server.url, "mutual")
        context = ssl.create_default_context(cafile=ca.cert)
        context.load_cert_chain(client_cert, client_key)
        await publish(server.url, context, streams, b"mutual")
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

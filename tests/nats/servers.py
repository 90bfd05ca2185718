"""A nats-server of the test's own, and what the tests against one do with it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import nats
import pytest

from doozer import Application
from doozer.nats import JetStream, Message

from .support import Streams
from .test_delivery import Running, make_app, until


class OwnServer:
    """A ``nats-server`` of the test's own, with JetStream, on a free port of 127.0.0.1.

    For what the shared server cannot be made to do (TLS, authorization):
    *config* is added to its configuration file.
    """

    def __init__(self, directory: Path, config: str, scheme: str = "nats") -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.scheme = scheme
        self.config = directory / "nats.conf"
        self.config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'jetstream {{ store_dir: "{directory / "jetstream"}" }}\n'
            f"{config}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> OwnServer:
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


async def publish(streams: Streams, body: bytes, **options: Any) -> None:
    """Create the stream of *streams* and publish *body* to it (nats-py's connect *options*)."""
    client = await nats.connect(streams.url, **options)
    try:
        js = client.jetstream()
        await js.add_stream(name=streams.stream, subjects=[streams.inbound, streams.outbound])
        await js.publish(streams.inbound, body)
    finally:
        await client.close()


async def round_trip(streams: Streams, **settings: Any) -> list[bytes]:
    """Serve the stream until a message was processed; return the bodies processed."""
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
        "own-server",
        {"NATS_URL": url, "NATS_CONNECT_TIMEOUT": 1, "NATS_RECONNECT_DELAY": 0.1, **settings},
    )
    extension = JetStream(app)
    with pytest.raises(ConnectionError) as caught:
        await extension.connection.open()
    await extension.connection.close()
    message = str(caught.value)
    assert "\n" not in message
    return message

"""/readyz and the transport metrics across a real broker connection cut.

A doozer-nats service (its consumer tells ``ready``, ``state``,
``reconnects`` and ``destination``) in a subprocess, connected to the local
NATS server through a fault proxy that this test cuts; real HTTP requests.
doozer-amqp's consumer tells none of these yet, so NATS is the transport here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.parse
import uuid
from collections.abc import Iterator

import nats
import pytest

from tests.nats.support import Streams
from tests.support.faults import FaultProxy
from tests.support.processes import doozer, wait_until

from .support import ROOT, get, scrape

pytestmark = pytest.mark.slow

URL = os.environ.get("DOOZER_TEST_NATS_URL", "nats://127.0.0.1:4222")


async def _check() -> None:
    client = await nats.connect(URL, connect_timeout=5, max_reconnect_attempts=0)
    await client.close()


@pytest.fixture
def streams() -> Iterator[Streams]:
    """A uniquely named stream for this test, deleted after it; the server must answer."""
    try:
        asyncio.run(_check())
    except Exception as exc:
        pytest.fail(f"NATS is not reachable at {URL} ({exc!r}): start it", pytrace=False)
    handle = Streams(URL, f"doozer_test_{uuid.uuid4().hex[:10]}")
    handle.run(handle.create())
    try:
        yield handle
    finally:
        handle.run(handle.delete())


def transport(port: int, stream: str) -> tuple[float, float]:
    """(doozer_transport_ready, doozer_transport_reconnects_total) of the service."""
    samples = scrape(port)
    # The consumer's destination: the stream, and the inbound subject it filters on.
    destination = f"{stream}/{stream}.in"
    labels = frozenset({"application": "prometheus-nats", "destination": destination}.items())
    return (
        samples[("doozer_transport_ready", labels)],
        samples[("doozer_transport_reconnects_total", labels)],
    )


def test_readyz_fails_while_the_transport_reconnects_and_recovers(streams: Streams) -> None:
    server = urllib.parse.urlsplit(URL)
    with FaultProxy(server.port or 4222, server.hostname or "127.0.0.1") as proxy:
        env = {
            "DOOZER_TEST_NATS_URL": f"nats://127.0.0.1:{proxy.port}",
            "DOOZER_TEST_STREAM": streams.stream,
            "DOOZER_PROMETHEUS_HOST": "127.0.0.1",
            "DOOZER_PROMETHEUS_PORT": "0",
        }
        process = doozer("run", "tests.prometheus.nats_service", cwd=ROOT, env=env)
        try:
            port = int(process.wait_for_match(r"^listening (\d+)$", "stdout").group(1))
            wait_until(lambda: get(port, "/readyz")[0] == 200, "the service is ready")
            assert transport(port, streams.stream) == (1, 0)

            proxy.refuse(3.0)  # cut every connection; refuse new ones for 3 s
            wait_until(lambda: get(port, "/readyz")[0] == 503, "/readyz reports the cut")
            status, body = get(port, "/readyz")
            assert status == 503
            assert body.startswith("the transport is not ready: reconnecting"), body
            assert transport(port, streams.stream)[0] == 0
            assert get(port, "/livez") == (200, "alive\n")  # reconnecting is not dead

            wait_until(lambda: get(port, "/readyz")[0] == 200, "/readyz after the reconnect")
            assert get(port, "/readyz") == (200, "ready\n")
            ready, reconnects = transport(port, streams.stream)
            assert ready == 1
            assert reconnects >= 1
            # Ready means consuming again: a message published now is processed.
            streams.run(streams.publish([b"after-the-cut"]))
            process.wait_for("done after-the-cut")

            process.signal(signal.SIGTERM)
            assert process.finish() == 0
        finally:
            process.kill()

"""/readyz and the transport metrics across a cut RabbitMQ connection.

A doozer-amqp service (its consumer tells ``ready``, ``state``,
``reconnects`` and ``destination``) in a subprocess, connected to the local
RabbitMQ through a fault proxy that this test cuts; real HTTP requests.
"""

from __future__ import annotations

import signal
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest

from tests.amqp.support import URL, Broker
from tests.support.faults import FaultProxy
from tests.support.processes import doozer, wait_until

from .support import ROOT, get, scrape

pytestmark = pytest.mark.slow


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A uniquely named queue for this test, deleted after it."""
    handle = Broker(URL, f"doozer-test-{uuid.uuid4().hex[:10]}")
    try:
        yield handle
    finally:
        handle.cleanup()


def transport(port: int, queue: str) -> tuple[float, float]:
    """(doozer_transport_ready, doozer_transport_reconnects_total) of the service."""
    samples = scrape(port)
    labels = frozenset({"application": "prometheus-amqp", "destination": queue}.items())
    return (
        samples[("doozer_transport_ready", labels)],
        samples[("doozer_transport_reconnects_total", labels)],
    )


def test_readyz_fails_while_the_transport_reconnects_and_recovers(broker: Broker) -> None:
    queue = broker.name()
    broker.declare_inbound(queue)
    server = urllib.parse.urlsplit(URL)
    with FaultProxy(server.port or 5672, server.hostname or "127.0.0.1") as proxy:
        login = server.netloc.rpartition("@")[0]
        url = urllib.parse.urlunsplit(server._replace(netloc=f"{login}@127.0.0.1:{proxy.port}"))
        env = {
            "DOOZER_TEST_AMQP_URL": url,
            "DOOZER_TEST_QUEUE": queue,
            "DOOZER_PROMETHEUS_HOST": "127.0.0.1",
            "DOOZER_PROMETHEUS_PORT": "0",
        }
        process = doozer("run", "tests.prometheus.amqp_service", cwd=ROOT, env=env)
        try:
            port = int(process.wait_for_match(r"^listening (\d+)$", "stdout").group(1))
            wait_until(lambda: get(port, "/readyz")[0] == 200, "the service is ready")
            assert transport(port, queue) == (1, 0)

            proxy.refuse(3.0)  # cut every connection; refuse new ones for 3 s
            wait_until(lambda: get(port, "/readyz")[0] == 503, "/readyz reports the cut")
            status, body = get(port, "/readyz")
            assert status == 503
            assert body.startswith("the transport is not ready: reconnecting"), body
            assert f":{server.password}@" not in body
            assert transport(port, queue)[0] == 0
            assert get(port, "/livez") == (200, "alive\n")  # reconnecting is not dead

            wait_until(lambda: get(port, "/readyz")[0] == 200, "/readyz after the reconnect")
            assert get(port, "/readyz") == (200, "ready\n")
            ready, reconnects = transport(port, queue)
            assert ready == 1
            assert reconnects >= 1
            # Ready means consuming again: a message published now is processed.
            broker.publish(queue, [b"after-the-cut"])
            process.wait_for("done after-the-cut")

            process.signal(signal.SIGTERM)
            assert process.finish() == 0
        finally:
            process.kill()
    assert broker.counts(queue) == (0, 0)

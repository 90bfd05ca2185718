"""What the extension reads from a transport's consumer: destination, ready, state, reconnects.

A consumer standing in for a transport (the attributes are what doozer-amqp,
doozer-redis and doozer-nats consumers expose), an application served in
this test's event loop, and real HTTP requests to its listener.
"""

from __future__ import annotations

import asyncio

from doozer import Application
from doozer.contrib.prometheus import Prometheus
from doozer.testing import MemoryQueue

from .support import get, scrape


class TransportLike(MemoryQueue):
    """A MemoryQueue that tells its destination and connection state, as transports do."""

    destination = "orders"
    ready = True
    state = "connected"
    reconnects = 0


async def process(app: Application, message: object) -> None:
    pass


def serve(app: Application) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Serve *app* in a task; the event is set once its startup callbacks ran."""
    ready = asyncio.Event()

    async def announce(app: Application) -> None:
        ready.set()

    app.startup(announce, order=10**9)
    return asyncio.create_task(app.serve()), ready


async def test_readyz_and_metrics_follow_the_transport() -> None:
    consumer = TransportLike(["one"])
    app = Application("shop", {"PROMETHEUS_PORT": 0}, consumer=consumer, callback=process)
    prometheus = Prometheus(app)
    serving, started = serve(app)
    try:
        await started.wait()
        assert app.consuming
        port = prometheus.port
        assert port is not None

        def http(path: str) -> tuple[int, str]:
            return get(port, path)

        assert await asyncio.to_thread(http, "/readyz") == (200, "ready\n")
        consumer.ready, consumer.state = False, "reconnecting: connection reset"
        assert await asyncio.to_thread(http, "/readyz") == (
            503,
            "the transport is not ready: reconnecting: connection reset\n",
        )
        samples = await asyncio.to_thread(scrape, port)
        labels = frozenset({"application": "shop", "destination": "orders"}.items())
        assert samples[("doozer_transport_ready", labels)] == 0
        assert samples[("doozer_messages_received_total", labels)] == 1
        consumer.ready, consumer.state, consumer.reconnects = True, "connected", 1
        assert await asyncio.to_thread(http, "/readyz") == (200, "ready\n")
        samples = await asyncio.to_thread(scrape, port)
        assert samples[("doozer_transport_ready", labels)] == 1
        assert samples[("doozer_transport_reconnects_total", labels)] == 1
    finally:
        app.stop()
        await serving
    assert prometheus.port is None


async def test_a_plain_consumer_has_no_transport_metrics() -> None:
    app = Application("plain", {"PROMETHEUS_PORT": 0}, consumer=MemoryQueue(), callback=process)
    prometheus = Prometheus(app)
    serving, started = serve(app)
    try:
        await started.wait()
        assert app.consuming
        port = prometheus.port
        assert port is not None
        assert await asyncio.to_thread(get, port, "/readyz") == (200, "ready\n")
        names = {name for name, _ in await asyncio.to_thread(scrape, port)}
        assert "doozer_messages_received_total" in names
        assert not {n for n in names if n.startswith("doozer_transport_")}
    finally:
        app.stop()
        await serving

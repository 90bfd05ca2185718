"""Connection handling against real failures: first connect, cancels, cuts, timeouts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from doozer import Application
from doozer.amqp import AMQP, Message
from tests.support.faults import FaultProxy, HungPeer, NotABroker
from tests.support.processes import Process, wait_until

from .support import Broker, run_app, stop_soon
from .test_processes import ROOT, processed, start

PASSWORD = "guest"


def first_connect(
    url: str,
    tmp_path: Path,
    *flags: str,
    timeout: float = 1,
    extra_env: dict[str, str] | None = None,
) -> Process:
    """The test service on *url*, expected to give up connecting."""
    return Process(
        ["-m", "doozer", "run", *flags, "tests.amqp.service:app"],
        cwd=ROOT,
        env={
            "DOOZER_TEST_AMQP_URL": url,
            "DOOZER_TEST_QUEUE": "never-declared",
            "DOOZER_TEST_OUTPUT": str(tmp_path / "out"),
            "DOOZER_TEST_CONNECT_TIMEOUT": str(timeout),
            **(extra_env or {}),
        },
    )


@contextmanager
def peer(kind: str) -> Iterator[str]:
    """A URL whose peer fails the first connection in the way *kind* says."""
    if kind == "refused":
        with socket_port() as port:
            yield f"amqp://guest:{PASSWORD}@127.0.0.1:{port}/"
    elif kind == "timeout":
        with HungPeer() as hung:
            yield f"amqp://guest:{PASSWORD}@127.0.0.1:{hung.port}/"
    elif kind == "access refused":
        yield "amqp://guest:not-the-password@127.0.0.1:5672/"
    elif kind == "unknown vhost":
        yield f"amqp://guest:{PASSWORD}@127.0.0.1:5672/no-such-vhost"
    elif kind in ("not a broker", "closed before greeting"):
        with NotABroker("http" if kind == "not a broker" else "close") as fake:
            yield f"amqp://guest:{PASSWORD}@127.0.0.1:{fake.port}/"
    else:  # pragma: no cover
        raise ValueError(kind)


@contextmanager
def socket_port() -> Iterator[int]:
    """A port nothing listens on (bound, never listening, so it stays free of others)."""
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


CAUSES = {
    "refused": "connection refused",
    "timeout": "no answer within",
    "access refused": "ACCESS_REFUSED",
    "unknown vhost": "refused to open virtual host 'no-such-vhost'",
    "not a broker": "not an AMQP broker",
    "closed before greeting": "closed the connection before the AMQP greeting",
}


@pytest.mark.parametrize("kind", list(CAUSES))
def test_a_first_connect_failure_is_one_line(kind: str, tmp_path: Path) -> None:
    with peer(kind) as url:
        service = first_connect(url, tmp_path)
        assert service.finish(timeout=30) == 1
    stderr = service.output("stderr")
    last = service.stderr[-1]
    assert last.startswith("doozer: error: "), stderr
    assert "cannot connect to the AMQP broker at amqp://guest:***@127.0.0.1:" in last
    assert CAUSES[kind] in last, last
    assert sum("cannot connect" in line for line in service.stderr) <= 2  # the log and the error
    assert "not-the-password" not in stderr
    # The library's own traceback is for -v.
    assert "aiormq" not in stderr, stderr
    assert "site-packages" not in stderr, stderr


def test_the_library_traceback_comes_with_verbose(tmp_path: Path) -> None:
    with peer("unknown vhost") as url:
        service = first_connect(url, tmp_path, "-v")
        assert service.finish(timeout=30) == 1
    stderr = service.output("stderr")
    # aiormq's own traceback, ending in the broker's Connection.Close (aiormq 7 raises
    # InvalidFrameError, aiormq 6 pamqp's AMQPInternalError).
    assert "Traceback (most recent call last)" in stderr
    assert "Connection.Close" in stderr
    assert "refused to open virtual host" in service.stderr[-1]


def test_the_first_connection_is_retried_until_the_broker_is_there(
    broker: Broker, tmp_path: Path
) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"1", b"2"])
    with FaultProxy(5672) as proxy:
        proxy.refuse(60)  # the broker is "not there yet"
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        service = start_unready(broker, tmp_path, url)
        try:
            service.wait_for("Cannot connect to the AMQP broker", timeout=20, count=2)
            assert service.returncode is None
            proxy.refuse(0)  # and now it is
            service.wait_for("consuming", timeout=20)
            wait_until(lambda: len(processed(tmp_path / "out")) == 2, "both messages", timeout=10)
            service.signal(signal.SIGTERM)
            assert service.finish(timeout=15) == 0
        finally:
            service.kill()
    assert "guest:guest@" not in service.output("stderr")


def start_unready(broker: Broker, tmp_path: Path, url: str) -> Process:
    return Process(
        ["-m", "doozer", "run", "-v", "tests.amqp.service:app"],
        cwd=ROOT,
        env={
            "DOOZER_TEST_AMQP_URL": url,
            "DOOZER_TEST_QUEUE": broker.name(),
            "DOOZER_TEST_OUTPUT": str(tmp_path / "out"),
            "DOOZER_TEST_CONNECT_TIMEOUT": "20",
        },
    )


def test_a_deleted_queue_is_declared_again_and_consumed(broker: Broker, tmp_path: Path) -> None:
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"1"])
    output = tmp_path / "out"
    service = start(broker, output, workers=2)
    try:
        wait_until(lambda: len(processed(output)) == 1, "the first message", timeout=10)

        async def delete(channel: Any) -> None:
            await channel.queue_delete(broker.name())

        broker.run(delete)
        service.wait_for("The broker cancelled consuming from queue", timeout=10)
        service.wait_for("Consuming from queue", timeout=10)
        broker.publish(broker.name(), [b"2", b"3"])  # into the queue it declared again
        wait_until(lambda: len(processed(output)) == 3, "the messages after the delete", timeout=10)
        service.signal(signal.SIGTERM)
        assert service.finish(timeout=15) == 0
    finally:
        service.kill()
    assert sorted(n for n, _ in processed(output)) == [1, 2, 3]
    assert broker.counts(broker.name()) == (0, 0)


def test_heartbeat_defaults_to_15_seconds(broker: Broker) -> None:
    broker.declare_inbound(broker.name())
    timeouts: list[str] = []

    async def process(app: Application, message: Message) -> None: ...

    app = Application(
        broker.name("-app"),
        {"AMQP_URL": broker.url, "AMQP_INBOUND_QUEUE": broker.name()},
        callback=process,
    )
    amqp = AMQP(app)
    app.consumer = amqp.consumer()

    @app.startup
    async def look(app: Application) -> None:
        timeouts.append(await asyncio.to_thread(connection_timeout, app.name))
        stop_soon(app)

    run_app(app)
    assert timeouts == ["15"]


def connection_timeout(name_part: str) -> str:
    out = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_connections",
            "--no-table-headers",
            "client_properties",
            "timeout",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    for line in out.splitlines():
        if name_part in line:
            return line.rsplit("\t", 1)[1].strip()
    raise LookupError(f"no connection named like {name_part!r} in {out!r}")


def test_a_publish_is_bounded_by_the_publish_timeout(broker: Broker) -> None:
    broker.declare(broker.name(".out"))
    outcome: list[BaseException] = []

    async def process(app: Application, message: Message) -> None: ...

    with FaultProxy(5672) as proxy:
        app = Application(
            broker.name("-app"),
            {
                "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
                "AMQP_OUTBOUND_ROUTING_KEY": broker.name(".out"),
                "AMQP_PUBLISH_TIMEOUT": 1,
                "AMQP_HEARTBEAT": 60,
            },
            consumer=Idle(),
            callback=process,
        )
        amqp = AMQP(app)

        @app.startup
        async def publish(app: Application) -> None:
            proxy.freeze()
            started = time.monotonic()
            try:
                await amqp.producer().publish(b"stuck")
            except TimeoutError as exc:
                outcome.append(exc)
            finally:
                proxy.thaw()
            assert time.monotonic() - started < 3
            stop_soon(app)

        run_app(app)
    [error] = outcome
    assert "AMQP_PUBLISH_TIMEOUT (1 s)" in str(error)
    assert broker.name(".out") in str(error)


class Idle:
    """A consumer that never has a message."""

    async def read(self) -> Any:
        await asyncio.Event().wait()

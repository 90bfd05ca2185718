"""amqps:// against a TLS-terminating proxy the test owns, with CAs the test makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from doozer import Application
from doozer.amqp import AMQP, Message
from tests.support.tls import TLSProxy, issue, make_authority

from .support import Broker, run_app, stop_soon
from .test_connection import first_connect


def tls_app(broker: Broker, port: int, **settings: Any) -> tuple[Application, list[bytes]]:
    seen: list[bytes] = []

    async def process(app: Application, message: Message) -> None:
        seen.append(message.body)
        stop_soon(app)

    app = Application(
        broker.name("-app"),
        {
            "AMQP_URL": f"amqps://guest:guest@127.0.0.1:{port}/",
            "AMQP_INBOUND_QUEUE": broker.name(),
            "AMQP_CONNECT_TIMEOUT": 0,
            **settings,
        },
        callback=process,
    )
    amqp = AMQP(app)
    app.consumer = amqp.consumer()
    return app, seen


def test_the_right_ca_connects(broker: Broker, tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    cert, key = issue(ca, tmp_path, "broker", server=True)
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"over tls"])
    with TLSProxy(cert, key) as proxy:
        app, seen = tls_app(broker, proxy.port, AMQP_TLS_CA_FILE=str(ca.cert))
        run_app(app)
    assert seen == [b"over tls"]
    assert broker.counts(broker.name()) == (0, 0)


def test_verification_is_on_by_default(broker: Broker, tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    cert, key = issue(ca, tmp_path, "broker", server=True)
    with TLSProxy(cert, key) as proxy:
        app, _ = tls_app(broker, proxy.port)  # the system's CAs do not know ours
        with pytest.raises(ConnectionError, match="TLS certificate verification failed"):
            run_app(app)


def test_a_wrong_ca_is_a_one_line_verification_error(broker: Broker, tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    other = make_authority(tmp_path, "other-ca")
    cert, key = issue(ca, tmp_path, "broker", server=True)
    with TLSProxy(cert, key) as proxy:
        service = first_connect(
            f"amqps://guest:guest@127.0.0.1:{proxy.port}/",
            tmp_path,
            timeout=0,
            extra_env={"DOOZER_TEST_TLS_CA_FILE": str(other.cert)},
        )
        assert service.finish(timeout=30) == 1
    last = service.stderr[-1]
    assert "cannot connect to the AMQP broker at amqps://guest:***@127.0.0.1:" in last
    assert "TLS certificate verification failed" in last
    assert "AMQP_TLS_CA_FILE" in last
    assert "site-packages" not in service.output("stderr")


def test_a_client_certificate_is_presented(broker: Broker, tmp_path: Path) -> None:
    ca = make_authority(tmp_path, "test-ca")
    cert, key = issue(ca, tmp_path, "broker", server=True)
    client_cert, client_key = issue(ca, tmp_path, "service", server=False)
    broker.declare_inbound(broker.name())
    broker.publish(broker.name(), [b"mutual"])
    with TLSProxy(cert, key, client_ca=ca.cert) as proxy:
        app, seen = tls_app(
            broker,
            proxy.port,
            AMQP_TLS_CA_FILE=str(ca.cert),
            AMQP_TLS_CERT_FILE=str(client_cert),
            AMQP_TLS_KEY_FILE=str(client_key),
        )
        run_app(app)
        assert seen == [b"mutual"]
        # Without it, the proxy refuses the handshake. In a service process of its own:
        # aiormq 6 (Python 3.10) leaves the TLS transport of an attempt that the peer
        # closed before the AMQP greeting unclosed (its socket is closed), and the
        # ResourceWarning it gives when collected would fail whichever test runs then.
        refused = first_connect(
            f"amqps://guest:guest@127.0.0.1:{proxy.port}/",
            tmp_path,
            timeout=0,
            extra_env={"DOOZER_TEST_TLS_CA_FILE": str(ca.cert)},
        )
        assert refused.finish(timeout=30) == 1
    assert "cannot connect to the AMQP broker at amqps://guest:***@" in refused.stderr[-1]

"""The fault proxy itself, against a small echo server."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from .faults import FaultProxy, HungPeer


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # the proxy resets it: that is the test
            while data := self.request.recv(1024):
                self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    return sock


def _is_dead(sock: socket.socket) -> bool:
    """Whether the connection was reset or closed by the other side."""
    try:
        sock.sendall(b"probe")
        return sock.recv(16) == b""
    except OSError:
        return True


def _refused(port: int) -> bool:
    """Whether a new connection is reset: while connecting, or on first use."""
    try:
        sock = _connect(port)
    except OSError:  # the reset can beat connect() back to the caller
        return True
    with sock:
        return _is_dead(sock)


def test_forwards_and_cuts(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        sock = _connect(proxy.port)
        sock.sendall(b"ping")
        assert sock.recv(16) == b"ping"
        assert proxy.connections == 1
        proxy.cut()
        assert _is_dead(sock)
        sock.close()
        # New connections go through again.
        with _connect(proxy.port) as fresh:
            fresh.sendall(b"x")
            assert fresh.recv(16) == b"x"


def test_refuses_for_a_while(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        proxy.refuse(0.5)
        assert _refused(proxy.port)
        time.sleep(0.6)
        with _connect(proxy.port) as sock:
            sock.sendall(b"y")
            assert sock.recv(16) == b"y"


def test_freeze_holds_bytes_until_thawed(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _connect(proxy.port) as sock:
        proxy.freeze()
        sock.sendall(b"held")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(16)
        proxy.thaw()
        sock.settimeout(2)
        assert sock.recv(16) == b"held"


def test_hung_peer_accepts_and_never_answers() -> None:
    with HungPeer() as peer, _connect(peer.port) as sock:
        sock.settimeout(0.3)
        sock.sendall(b"hello")
        with pytest.raises(TimeoutError):
            sock.recv(16)

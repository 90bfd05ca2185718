"""A TCP proxy a test puts between a client and a shared server, to inject faults.

The shared RabbitMQ, Redis and NATS servers are never stopped by a test:
the test points its client (or its application subprocess) at a
:class:`FaultProxy` instead, and breaks the proxy. The proxy runs its own
event loop in a background thread, so synchronous tests and subprocesses
can use it alike::

    with FaultProxy(5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        ...                      # start the service on url
        proxy.cut()              # every open connection is reset
        proxy.refuse(3.0)        # new connections are refused for 3 s
        proxy.freeze()           # connections stay open, nothing flows
        proxy.thaw()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, TypeVar

__all__ = ["FaultProxy", "HungPeer", "NotABroker", "Peer"]

_CHUNK = 65536

P = TypeVar("P", bound="Peer")


class FaultProxy:
    """Forward 127.0.0.1:<port> to *upstream_host*:*upstream_port*, with faults on demand.

    :param upstream_port: the real server's port.
    :param upstream_host: the real server's address.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        #: The port the proxy listens on (known once started).
        self.port = 0
        #: How many client connections the proxy accepted so far.
        self.accepted = 0
        self._refuse_until = 0.0
        self._frozen = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._thawed = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start listening on a free port of 127.0.0.1."""
        self._thread.start()
        self._call(self._start)
        return self

    def close(self) -> None:
        """Cut every connection and stop listening."""
        if not self._thread.is_alive():
            return
        self._call(self._close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- faults ------------------------------------------------------------

    @property
    def connections(self) -> int:
        """How many client connections are open through the proxy now."""
        return int(self._call(self._count))

    def cut(self) -> None:
        """Reset every open connection (both sides see the connection drop)."""
        self._call(self._cut)

    def refuse(self, seconds: float) -> None:
        """Cut every connection, and close new ones at once for *seconds*."""
        self._refuse_until = time.monotonic() + seconds
        self.cut()

    def freeze(self) -> None:
        """Stop forwarding bytes: connections stay open and go silent (a hung peer)."""
        self._call(self._freeze)

    def thaw(self) -> None:
        """Forward bytes again (what was held back flows on)."""
        self._call(self._thaw)

    # -- inside the proxy's loop -----------------------------------------------

    def _call(self, function: Callable[[], Any]) -> Any:
        async def run() -> Any:
            result = function()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    async def _start(self) -> None:
        self._thawed.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        self._thaw()  # frozen pipes wake up, to find their connections reset
        self._cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Let the connections' tasks end before the loop stops, rather than be destroyed pending.
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=2)

    def _count(self) -> int:
        return len(self._pairs)

    def _freeze(self) -> None:
        self._frozen = True
        self._thawed.clear()

    def _thaw(self) -> None:
        self._frozen = False
        self._thawed.set()

    def _cut(self) -> None:
        for client, server in list(self._pairs):
            for writer in (client, server):
                _reset(writer)
        self._pairs.clear()

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        if time.monotonic() < self._refuse_until:
            _reset(client)
            return
        try:
            server_reader, server = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(client)
            return
        pair = (client, server)
        self._pairs.add(pair)
        try:
            await asyncio.gather(
                self._pipe(client_reader, server), self._pipe(server_reader, client)
            )
        finally:
            self._pairs.discard(pair)
            for writer in pair:
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                if self._frozen:
                    await self._thawed.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()


class Peer:
    """A TCP server on 127.0.0.1, in a thread, that does what :meth:`answer` says with each client.

    Use it as a context manager: ``with Peer() as peer: connect to peer.port``.
    """

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        #: The port it listens on.
        self.port: int = self._socket.getsockname()[1]
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def answer(self, connection: socket.socket) -> None:
        """Deal with one accepted connection (in the peer's thread); closes it by default."""
        connection.close()

    def _accept(self) -> None:
        self._socket.settimeout(0.2)
        while self._running:
            try:
                connection, _ = self._socket.accept()
            except (TimeoutError, OSError):
                continue
            self.answer(connection)

    def __enter__(self: P) -> P:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._running = False
        self._thread.join(5)
        self._socket.close()


class HungPeer(Peer):
    """A server that accepts TCP connections and never says a word.

    For "the broker accepts and never answers" cases (a firewall, a wrong
    port, a hung broker): ``with HungPeer() as peer: connect to peer.port``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._held: list[socket.socket] = []

    def answer(self, connection: socket.socket) -> None:
        self._held.append(connection)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(kind, value, traceback)
        for connection in self._held:
            connection.close()


class NotABroker(Peer):
    """A server that closes each connection at once, or answers it HTTP.

    :param behaviour: ``"close"``: close before saying anything (as a dying
        broker or a proxy with no backend does); ``"http"``: answer a few
        bytes of HTTP (a wrong port).
    """

    def __init__(self, behaviour: Literal["close", "http"]) -> None:
        super().__init__()
        self.behaviour = behaviour

    def answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(2)
            with contextlib.suppress(OSError):
                # Read what the client sent first: closing a socket with unread
                # data resets the connection, which is another fault than "closed".
                connection.recv(64)
                if self.behaviour == "http":
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a dropped network link looks to a client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()

"""Peers that are not AMQP brokers, for first-connection failures."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Literal

Behaviour = Literal["close", "http"]


class NotABroker:
    """A TCP server on 127.0.0.1 that closes each connection at once, or answers HTTP.

    :param behaviour: ``"close"``: close before saying anything (as a dying
        broker or a proxy with no backend does); ``"http"``: answer a few
        bytes of HTTP (a wrong port).
    """

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        #: The port it listens on.
        self.port: int = self._socket.getsockname()[1]
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self._socket.settimeout(0.2)
        while self._running:
            try:
                connection, _ = self._socket.accept()
            except (TimeoutError, OSError):
                continue
            with connection:
                if self.behaviour == "http":
                    connection.settimeout(2)
                    try:
                        connection.recv(64)
                        connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    except OSError:
                        pass

    def __enter__(self) -> NotABroker:
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

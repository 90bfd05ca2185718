"""The HTTP listener: prometheus-client's WSGI app and server, plus the probes.

The server is the standard library's WSGI server with prometheus-client's
thread-per-request mix-in (what ``prometheus_client.start_http_server``
runs), in a thread of its own: a scrape or a probe never waits for the
event loop, which is what lets ``/livez`` notice that the loop is blocked.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from ._health import Health, Verdict

logger = logging.getLogger(__name__)

_PLAIN = (("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"))
_NOT_FOUND = b"not found: this server answers /metrics, /livez and /readyz\n"

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: a probe every few seconds would drown the application's."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def wsgi_app(registry: CollectorRegistry, health: Health) -> Callable[..., Iterable[bytes]]:
    """The WSGI application behind the listener."""
    metrics = make_wsgi_app(registry)
    probes: dict[str, Callable[[], Verdict]] = {
        "/livez": health.liveness,
        "/readyz": health.readiness,
    }

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        probe = probes.get(path)
        if probe is None:
            start_response("404 Not Found", list(_PLAIN))
            return [_NOT_FOUND]
        healthy, reason = probe()
        # A new list each time: the server adds Content-Length to the one it is given.
        start_response("200 OK" if healthy else "503 Service Unavailable", list(_PLAIN))
        return [f"{reason}\n".encode()]

    return application


class Server:
    """The listener on *host*:*port*, served by a daemon thread."""

    def __init__(self, host: str, port: int, application: Callable[..., Iterable[bytes]]) -> None:
        self.host = host
        self.port = port
        self.application = application
        self._httpd: ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve.

        :raises OSError: one line naming the setting to change, when the
            address cannot be bound (the port is in use, the host is not local).
        """
        try:
            family = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0][0]
        except socket.gaierror as error:
            raise OSError(
                f"PROMETHEUS_HOST {self.host!r} is not an address to listen on ({error.strerror}): "
                "set PROMETHEUS_HOST to a local address, or 0.0.0.0 for every one"
            ) from None

        class BoundServer(ThreadingWSGIServer):
            address_family = family

            def handle_error(self, request: Any, client_address: Any) -> None:
                _report_request_error(client_address)

        try:
            httpd = make_server(self.host, self.port, self.application, BoundServer, _QuietHandler)
        except OSError as error:
            raise _bind_error(self.host, self.port, error) from None
        self._httpd = httpd
        self.port = httpd.server_address[1]  # the real one when 0 asked for any free port
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"doozer-prometheus:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (blocks up to the poll interval)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join()


def _report_request_error(client_address: Any) -> None:
    """What the server says when answering one request failed (in its thread, in ``except``).

    socketserver would print a traceback on stderr. A client that went away
    (a probe giving up, a scraper restarting) is no news at all; anything
    else is one line, with the traceback at DEBUG level.
    """
    error = sys.exc_info()[1]
    if isinstance(error, ConnectionError):  # reset, broken pipe, aborted
        return
    logger.warning(
        "The Prometheus listener could not answer %s: %s: %s",
        client_address[0] if client_address else "a client",
        type(error).__name__,
        error,
        exc_info=logger.isEnabledFor(logging.DEBUG),
    )


def _bind_error(host: str, port: int, error: OSError) -> OSError:
    if error.errno == errno.EADDRINUSE:
        return OSError(
            f"PROMETHEUS_PORT {port} is in use on {host}: another program (or another "
            "process of this service) listens there; set PROMETHEUS_PORT to a free port"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return OSError(
            f"PROMETHEUS_HOST {host!r} is not an address of this machine: "
            "set PROMETHEUS_HOST to a local address, or 0.0.0.0 for every one"
        )
    if error.errno == errno.EACCES:
        return OSError(
            f"PROMETHEUS_PORT {port} needs privileges to listen on: "
            "set PROMETHEUS_PORT to a port above 1023"
        )
    return OSError(
        f"cannot listen on {host}:{port} (PROMETHEUS_HOST, PROMETHEUS_PORT): {error.strerror}"
    )

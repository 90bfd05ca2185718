"""A NATS client that keeps trying, logs what happens to it, and hides credentials.

It knows nothing of Doozer applications: the consumer and producers use its
:attr:`Connection.client` and :attr:`Connection.js`, and subscribe to its
reconnections with :meth:`Connection.on_reconnect`. nats-py reconnects on
its own (forever, ``NATS_RECONNECT_DELAY`` apart); this class logs it and
counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from doozer.backoff import Backoff
from doozer.exceptions import exception_chain
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from ._settings import Settings

__all__ = ["Connection"]

#: Seconds one connection attempt may take, and between pings: a silent
#: server is noticed after about PING_INTERVAL * (MAX_PINGS + 1) seconds.
ATTEMPT_TIMEOUT = 2.0
PING_INTERVAL = 5
MAX_PINGS = 2
#: OpenSSL's reasons when the server turns down this client's certificate (or its absence).
_CLIENT_CERTIFICATE_REFUSED = frozenset(
    {"SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA"}
)
#: The longest wait between two tries of the first connection, in seconds.
MAX_CONNECT_DELAY = 5.0

Listener = Callable[[], Awaitable[None]]


def summary(exc: BaseException) -> str:
    """``Type: first line`` of an exception (without traceback)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def _attempt(client: Client, options: dict[str, Any], budget: float) -> None:
    """``client.connect(**options)``, given up after *budget* seconds (then closed).

    Not ``asyncio.wait_for``: nats-py's connection loop may swallow the
    cancellation and go on reconnecting, and wait_for would then wait for it
    forever. Here a cancelled attempt gets a moment to end, then the client
    is closed (which ends its loop), and the attempt is left behind at worst.

    :raises asyncio.TimeoutError: if it did not connect in time.
    """
    attempt = asyncio.ensure_future(client.connect(**options))
    try:
        done, _ = await asyncio.wait({attempt}, timeout=budget)
        if done:
            try:
                attempt.result()
                return
            except BaseException:
                await _settle_within(client.close(), ATTEMPT_TIMEOUT)
                raise
        raise asyncio.TimeoutError
    finally:
        if not attempt.done():  # timed out, or open() itself was cancelled
            attempt.cancel()
            await asyncio.wait({attempt}, timeout=0.5)
            await _settle_within(client.close(), ATTEMPT_TIMEOUT)
            if not attempt.done():
                await asyncio.wait({attempt}, timeout=ATTEMPT_TIMEOUT)
            attempt.add_done_callback(_forget)


async def _settle_within(awaitable: Awaitable[Any], seconds: float) -> None:
    """Await *awaitable* for at most *seconds*, ignoring what it raises."""
    task = asyncio.ensure_future(awaitable)
    await asyncio.wait({task}, timeout=seconds)
    if not task.done():
        task.cancel()
    task.add_done_callback(_forget)


def _forget(task: asyncio.Future[Any]) -> None:
    # Read the outcome of a task given up on, so asyncio does not report it.
    if not task.cancelled():
        task.exception()


class Connection:
    """One NATS client for an application.

    :param settings: the checked settings (servers, credentials, TLS, timeouts).
    :param logger: where connection losses and recoveries are logged.
    :param name: the client's name, shown by the server's monitoring.
    """

    def __init__(self, settings: Settings, logger: logging.Logger, name: str = "doozer") -> None:
        self.settings = settings
        self.logger = logger
        self.name = name
        #: How many times nats-py reconnected since :meth:`open`.
        self.reconnects = 0
        #: A few words on the connection's state: "connected", "reconnecting: ...".
        self.state = "not connected"
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._listeners: list[Listener] = []
        self._closing = False
        self._lost_since: float | None = None
        self._first_error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.where}>"

    @property
    def where(self) -> str:
        """The servers, without credentials."""
        return self.settings.where

    @property
    def client(self) -> Client:
        """The nats-py client (opened by :meth:`open`)."""
        if self._client is None:
            raise RuntimeError(
                f"the NATS connection to {self.where} is not open: "
                "it opens when the application starts"
            )
        return self._client

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context of :attr:`client`."""
        if self._js is None:
            self._js = self.client.jetstream()
        return self._js

    @property
    def connected(self) -> bool:
        """Whether the client is connected right now."""
        return self._client is not None and self._client.is_connected

    def on_reconnect(self, listener: Listener) -> None:
        """Run ``await listener()`` after each reconnection."""
        self._listeners.append(listener)

    def _options(self) -> dict[str, Any]:
        settings = self.settings
        options: dict[str, Any] = {
            "servers": list(settings.servers),
            "name": self.name,
            "connect_timeout": ATTEMPT_TIMEOUT,
            "reconnect_time_wait": settings.reconnect_delay,
            "max_reconnect_attempts": -1,
            "ping_interval": PING_INTERVAL,
            "max_outstanding_pings": MAX_PINGS,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            "closed_cb": self._on_closed,
        }
        if settings.creds:
            options["user_credentials"] = settings.creds
        if settings.token:
            options["token"] = settings.token
        if settings.user:
            options["user"], options["password"] = settings.user, settings.password
        if settings.tls_ca or settings.tls_cert:
            context = ssl.create_default_context(cafile=settings.tls_ca)
            if settings.tls_cert:
                context.load_cert_chain(settings.tls_cert, settings.tls_key)
            options["tls"] = context
        return options

    async def open(self) -> None:
        """Connect, trying again for ``NATS_CONNECT_TIMEOUT`` seconds.

        :raises ConnectionError: one line naming the servers (without
            credentials), once the time is up.
        """
        settings = self.settings
        self._closing = False
        self.reconnects = 0
        backoff = Backoff(settings.reconnect_delay, MAX_CONNECT_DELAY, settings.connect_timeout)
        while True:
            self.state = "connecting"
            client = Client()
            # nats-py retries the first connection forever with unlimited
            # reconnection attempts: bound each try here.
            budget = max(min(backoff.left, ATTEMPT_TIMEOUT * 2), ATTEMPT_TIMEOUT)
            try:
                await _attempt(client, self._options(), budget)
                self._client = client
                break
            except Exception as exc:  # nats-py raises many kinds for "cannot connect"
                if isinstance(exc, asyncio.TimeoutError) and self._first_error is None:
                    exc = TimeoutError(f"no answer within {budget:g} s")
                problem = self._lasting_problem(exc)
                if problem is not None:  # trying again would not change the answer
                    self.state = f"cannot connect: {problem}"
                    message = f"cannot connect to NATS at {self.where}: {problem}"
                    raise ConnectionError(message) from None
                cause = self._cause(exc)
                wait = backoff.next_wait()
                if wait is None:
                    self.state = f"cannot connect: {cause}"
                    raise ConnectionError(
                        f"cannot connect to NATS at {self.where} (tried for "
                        f"{settings.connect_timeout:g} s; NATS_CONNECT_TIMEOUT): {cause}; "
                        "check NATS_URL, the credentials, and that the server is running"
                    ) from None
                self.logger.warning(
                    "Cannot connect to NATS at %s (%s); trying again in %.1f s",
                    self.where,
                    cause,
                    wait,
                )
                await backoff.sleep(wait)
        self._js = self._client.jetstream()
        self.state = "connected"
        self.logger.info("Connected to NATS at %s", self.where)

    def _lasting_problem(self, exc: BaseException) -> str | None:
        """What is wrong, with the setting to fix, if connecting failed for a lasting reason.

        Refused credentials, a certificate that does not verify, a server
        refusing this client's certificate: none goes away by trying again.
        """
        # nats-py wraps errors, and tells the first one to its error callback.
        candidates = exception_chain(exc)
        if self._first_error is not None:
            candidates += exception_chain(self._first_error)
        for seen in candidates:
            # nats-py raises a plain nats.errors.Error for the server's -ERR.
            if isinstance(seen, NatsError) and "authorization violation" in str(seen).lower():
                self._first_error = None
                return (
                    "the server refused the credentials (Authorization Violation): check "
                    "NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, or those in NATS_URL"
                )
            if isinstance(seen, ssl.SSLCertVerificationError):
                self._first_error = None
                return (
                    f"TLS certificate verification failed ({seen.verify_message or seen}): "
                    "set NATS_TLS_CA_FILE to the CA that signed the server's certificate"
                )
            if isinstance(seen, ssl.SSLError) and seen.reason in _CLIENT_CERTIFICATE_REFUSED:
                self._first_error = None
                return (
                    "the server refused this client's TLS certificate, or wants one: set "
                    "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE to a certificate it trusts"
                )
        return None

    def _cause(self, exc: BaseException) -> str:
        # nats-py raises "no servers available" and tells the real cause to
        # its error callback first; either is scrubbed of credentials.
        first, self._first_error = self._first_error, None
        vague = type(exc).__name__ == "NoServersError" or isinstance(exc, asyncio.TimeoutError)
        if first is not None and vague:
            exc = first
        return self.settings.scrub(summary(exc))

    async def close(self) -> None:
        """Send what is buffered (acknowledgements) and close the client."""
        self._closing = True
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.flush(), ATTEMPT_TIMEOUT)
            with contextlib.suppress(Exception):
                await client.close()
        self.state = "closed"

    # -- nats-py's callbacks ---------------------------------------------------

    async def _on_error(self, exc: Exception) -> None:
        if self._client is None or self._closing:
            self._first_error = exc  # open() reports it, once it gives up
            return
        self.logger.warning("NATS at %s: %s", self.where, self._cause(exc))

    async def _on_disconnected(self) -> None:
        if self._closing or self._client is None:
            return
        self._lost_since = time.monotonic()
        self.state = "reconnecting: lost the connection"
        self.logger.warning("Lost the connection to NATS at %s; reconnecting", self.where)

    async def _on_reconnected(self) -> None:
        self.reconnects += 1
        self.state = "connected"
        lost = time.monotonic() - self._lost_since if self._lost_since is not None else 0.0
        self._lost_since = None
        self.logger.warning("Reconnected to NATS at %s after %.1f s", self.where, lost)
        for listener in tuple(self._listeners):
            try:
                await listener()
            except Exception as exc:
                self.logger.error("After reconnecting to NATS: %s", self._cause(exc))

    async def _on_closed(self) -> None:
        # While opening, the clients of failed attempts are closed here on purpose.
        if not self._closing and self._client is not None:
            self.state = "closed by the client library"
            self.logger.error("The connection to NATS at %s closed for good", self.where)

"""Opening one AMQP connection: URL options, TLS, and what a failure means, in one line."""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aio_pika
from aio_pika.abc import AbstractConnection
from aiormq.exceptions import (
    AMQPConnectionError,
    AuthenticationError,
    InvalidFrameError,
    ProbableAuthenticationError,
)
from yarl import URL

from doozer.config import mask_url
from doozer.exceptions import exception_chain

from ._aiormq_compat import closed_by_broker_in_handshake


@dataclass(frozen=True)
class ConnectOptions:
    """How to connect: the URL and what is added to it."""

    url: str
    name: str
    heartbeat: int
    tls_verify: bool = True
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} url={mask_url(self.url)!r}>"

    @property
    def safe_url(self) -> str:
        """The URL with its password masked."""
        return mask_url(self.url)

    @property
    def tls(self) -> bool:
        """Whether the URL asks for TLS (``amqps://``)."""
        return urlsplit(self.url).scheme == "amqps"

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: the system's CAs (or ``AMQP_TLS_CA_FILE``), verifying by default."""
        context = ssl.create_default_context(cafile=self.tls_ca_file)
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.tls_cert_file:
            context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        return context


class ConnectFailedError(ConnectionError):
    """The broker could not be reached, or refused us; ``str()`` says why in one line."""

    def __init__(self, text: str, retry: bool) -> None:
        super().__init__(text)
        #: Whether trying again may help (refused, timed out), or not (access refused).
        self.retry = retry


class _QuietTransportErrors(logging.Filter):
    """aiormq logs every failed attempt; doozer-amqp reports them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).lower().startswith("error when creating transport")


logging.getLogger("aiormq.connection").addFilter(_QuietTransportErrors())


async def connect(options: ConnectOptions, timeout: float) -> AbstractConnection:
    """Open a connection within *timeout* seconds.

    :raises ConnectFailedError: with a one-line reason (the library's exception chained).
    """
    url = URL(options.url)
    if "name" not in url.query:  # the connection's name, shown by the broker
        url = url.update_query(name=options.name)
    if "heartbeat" not in url.query:
        url = url.update_query(heartbeat=options.heartbeat)
    try:
        context = options.ssl_context() if options.tls else None
    except (OSError, ssl.SSLError) as exc:
        raise ConnectFailedError(
            f"cannot load the TLS certificates (AMQP_TLS_CA_FILE, AMQP_TLS_CERT_FILE, "
            f"AMQP_TLS_KEY_FILE): {exc}",
            retry=False,
        ) from exc
    try:
        if context is None:
            return await aio_pika.connect(url, timeout=timeout)
        return await aio_pika.connect(url, timeout=timeout, ssl_context=context)
    except Exception as exc:
        raise ConnectFailedError(explain(exc, options, timeout), retry=retryable(exc)) from exc


def retryable(exc: BaseException) -> bool:
    """Whether a connection failure may go away by itself."""
    if isinstance(exc, (ProbableAuthenticationError, AuthenticationError, InvalidFrameError)):
        return False
    if closed_by_broker_in_handshake(exc):
        return False
    if _verification_error(exc) is not None:
        return False
    return not (isinstance(exc, AMQPConnectionError) and _received(exc) > 0)


def explain(exc: BaseException, options: ConnectOptions, timeout: float) -> str:
    """What went wrong, in words, for one line."""
    vhost = unquote(urlsplit(options.url).path[1:]) or "/"
    verification = _verification_error(exc)
    if verification is not None:
        return (
            f"TLS certificate verification failed ({verification.verify_message or verification}): "
            "set AMQP_TLS_CA_FILE to the CA that signed the broker's certificate"
        )
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {timeout:g} s (a firewall, a wrong port, or a hung broker?)"
    if isinstance(exc, (ProbableAuthenticationError, AuthenticationError)):
        return "access refused (ACCESS_REFUSED): check the user name and password in AMQP_URL"
    if closed_by_broker_in_handshake(exc):
        return (
            f"the broker refused to open virtual host {vhost!r}: it does not exist, or the "
            "user may not use it (check the path of AMQP_URL and the user's permissions)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if _refused(exc):
        return "connection refused (is the broker running, and listening on that port?)"
    if _reset(exc):
        return "the peer closed the connection before the AMQP greeting (it reset it)"
    if isinstance(exc, AMQPConnectionError):
        received = _received(exc)
        if received == 0:
            return "the peer closed the connection before the AMQP greeting"
        if received > 0:
            return "the peer is not an AMQP broker (it answered something else: a wrong port?)"
    if isinstance(exc, InvalidFrameError):
        return "the peer is not an AMQP broker (it answered with an unexpected frame)"
    text = mask_url(str(exc)).strip().splitlines()  # a library may quote the URL
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    for link in exception_chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            return link
        for arg in getattr(link, "args", ()):
            if isinstance(arg, ssl.SSLCertVerificationError):
                return arg
    return None


def _refused(exc: BaseException) -> bool:
    for link in exception_chain(exc):
        if isinstance(link, ConnectionRefusedError):
            return True
        args = getattr(link, "args", ())
        if args and args[0] == errno.ECONNREFUSED:
            return True
    return False


def _reset(exc: BaseException) -> bool:
    for link in exception_chain(exc):
        if isinstance(link, ConnectionResetError):
            return True
        if any(isinstance(arg, ConnectionResetError) for arg in getattr(link, "args", ())):
            return True
    return "connection reset" in str(exc).lower()


def _received(exc: BaseException) -> int:
    """Bytes read before aiormq gave up ("Read N bytes but M bytes expected"), or -1."""
    text = " ".join(str(arg) for arg in getattr(exc, "args", ()))
    marker = "Read "
    if "unexpectedly closed" not in text or marker not in text:
        return -1
    try:
        return int(text.split(marker, 1)[1].split(" ", 1)[0])
    except ValueError:
        return -1

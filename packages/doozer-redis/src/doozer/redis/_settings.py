"""Reading and checking the ``REDIS_*`` settings of one application."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult

from doozer.config import (
    check_server_url,
    read_file,
    read_seconds,
    read_text,
    read_whole_number,
)

DEFAULTS: Mapping[str, Any] = {
    "REDIS_URL": "redis://localhost:6379/0",
    "REDIS_INBOUND_STREAM": None,
    "REDIS_GROUP": None,
    "REDIS_CONSUMER": None,
    "REDIS_OUTBOUND_STREAM": None,
    "REDIS_DEAD_LETTER_STREAM": None,
    "REDIS_MAX_DELIVERIES": 5,
    "REDIS_CLAIM_IDLE": 30,
    "REDIS_BATCH": None,
    "REDIS_MAXLEN": None,
    "REDIS_CONNECT_TIMEOUT": 30,
    "REDIS_RECONNECT_DELAY": 0.5,
    "REDIS_RECONNECT_MAX_DELAY": 30,
    "REDIS_TLS_CA_FILE": None,
    "REDIS_TLS_CERT_FILE": None,
    "REDIS_TLS_KEY_FILE": None,
}

#: What each setting means (reStructuredText), rendered by ``.. doozersettings::``.
DOCS: Mapping[str, str] = {
    "REDIS_URL": (
        "The server: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for TLS, "
        "``unix://`` for a socket. A URL that is not one is refused by ``RedisStreams(app)`` "
        "in one line; the password never appears in a log line, an error or a ``repr()``."
    ),
    "REDIS_INBOUND_STREAM": (
        "The stream to consume; :meth:`~doozer.redis.RedisStreams.consumer` needs it."
    ),
    "REDIS_GROUP": (
        "The consumer group (created if missing, reading from the stream's start); processes "
        "in one group share the entries. ``None``: the application's name."
    ),
    "REDIS_CONSUMER": "This process's name in the group. ``None``: the host name and the pid.",
    "REDIS_OUTBOUND_STREAM": (
        "Where :meth:`~doozer.redis.RedisStreams.producer` and ``publish_result`` add entries."
    ),
    "REDIS_DEAD_LETTER_STREAM": (
        "Where failed entries go. ``None``: ``<inbound stream>.dead``. It must differ from the "
        "inbound stream."
    ),
    "REDIS_MAX_DELIVERIES": (
        "An entry delivered more times than this (each delivery ended by a crash) goes to the "
        "dead-letter stream instead of being processed again."
    ),
    "REDIS_CLAIM_IDLE": (
        "Seconds after which entries a consumer holds without showing signs of life are "
        "claimed by the others."
    ),
    "REDIS_BATCH": "Entries read per ``XREADGROUP``. ``None``: twice the number of workers.",
    "REDIS_MAXLEN": (
        "When set, producers trim their stream to about this many entries (``MAXLEN ~``)."
    ),
    "REDIS_CONNECT_TIMEOUT": (
        "Seconds the first connection is retried before the application stops with one line "
        "naming the (masked) URL."
    ),
    "REDIS_RECONNECT_DELAY": (
        "Seconds to wait before trying a lost connection again, doubled per try up to "
        "``REDIS_RECONNECT_MAX_DELAY``."
    ),
    "REDIS_RECONNECT_MAX_DELAY": "The longest wait, in seconds, between two connection attempts.",
    "REDIS_TLS_CA_FILE": (
        "With ``rediss://``: the CA certificates (a PEM file) to verify the server with. "
        "``None``: the system's."
    ),
    "REDIS_TLS_CERT_FILE": (
        "With ``rediss://``: a client certificate (PEM), for servers that authenticate "
        "clients by certificate (``tls-auth-clients``); its key is ``REDIS_TLS_KEY_FILE``."
    ),
    "REDIS_TLS_KEY_FILE": "With ``rediss://``: the key of ``REDIS_TLS_CERT_FILE`` (PEM).",
}

SCHEMES = ("redis", "rediss", "unix")
URL_FORM = "redis://[[user]:password@]host[:port][/db] (rediss:// for TLS)"


@dataclass(frozen=True)
class Settings:
    """The checked ``REDIS_*`` settings (None where the default depends on the run)."""

    url: str
    inbound_stream: str | None
    group: str | None
    consumer: str | None
    outbound_stream: str | None
    dead_letter_stream: str | None
    max_deliveries: int
    claim_idle: float
    batch: int | None
    maxlen: int | None
    connect_timeout: float
    reconnect_delay: float
    reconnect_max_delay: float
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None


def check_url(url: object) -> str:
    """Return *url* if it is a Redis URL; raise one line naming it (masked) otherwise."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"REDIS_URL must be a Redis URL like {URL_FORM}, got {url!r}")
    return check_server_url(
        "REDIS_URL",
        url,
        schemes=SCHEMES,
        form=URL_FORM,
        socket_schemes=("unix",),
        also=_database_problem,
    )


def _database_problem(parts: SplitResult) -> str | None:
    db = "" if parts.scheme == "unix" else parts.path.strip("/")
    if db and not db.isdigit():
        return f"the database must be a number, got {db!r}"
    return None


def resolve(settings: Mapping[str, Any]) -> Settings:
    """Check the settings (defaults applied already) and return them typed.

    :raises TypeError: a setting has the wrong type.
    :raises ValueError: a setting has a wrong value.
    """

    inbound = read_text(settings, "REDIS_INBOUND_STREAM")
    dead = read_text(settings, "REDIS_DEAD_LETTER_STREAM")
    if dead is not None and dead == inbound:
        raise ValueError("REDIS_DEAD_LETTER_STREAM must differ from REDIS_INBOUND_STREAM")
    delay = read_seconds(settings, "REDIS_RECONNECT_DELAY", minimum=0.01)
    url = check_url(settings["REDIS_URL"])
    ca, cert = read_file(settings, "REDIS_TLS_CA_FILE"), read_file(settings, "REDIS_TLS_CERT_FILE")
    key = read_file(settings, "REDIS_TLS_KEY_FILE")
    if (cert is None) != (key is None):
        raise ValueError(
            "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both, or neither"
        )
    if (ca or cert) and not url.startswith("rediss://"):
        raise ValueError(
            "REDIS_TLS_* settings need a TLS connection: REDIS_URL must start with rediss://"
        )
    return Settings(
        url=url,
        inbound_stream=inbound,
        group=read_text(settings, "REDIS_GROUP"),
        consumer=read_text(settings, "REDIS_CONSUMER"),
        outbound_stream=read_text(settings, "REDIS_OUTBOUND_STREAM"),
        dead_letter_stream=dead,
        max_deliveries=read_whole_number(settings, "REDIS_MAX_DELIVERIES"),
        claim_idle=read_seconds(settings, "REDIS_CLAIM_IDLE", minimum=0.01),
        batch=read_whole_number(settings, "REDIS_BATCH", optional=True),
        maxlen=read_whole_number(settings, "REDIS_MAXLEN", optional=True),
        connect_timeout=read_seconds(settings, "REDIS_CONNECT_TIMEOUT"),
        reconnect_delay=delay,
        reconnect_max_delay=read_seconds(settings, "REDIS_RECONNECT_MAX_DELAY", minimum=delay),
        tls_ca_file=ca,
        tls_cert_file=cert,
        tls_key_file=key,
    )

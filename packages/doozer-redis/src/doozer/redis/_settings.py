"""Reading and checking the ``REDIS_*`` settings of one application."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from doozer.config import mask_url

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


def check_url(url: object) -> str:
    """Return *url* if it is a Redis URL; raise one line naming it (masked) otherwise."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"REDIS_URL must be a Redis URL like {URL_FORM}, got {url!r}")
    problem = _url_problem(url)
    if problem:
        raise ValueError(f"REDIS_URL {mask_url(url)!r} is not usable: {problem}; use {URL_FORM}")
    return url


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is not a number, a broken IPv6 host
        return str(exc).replace(url, mask_url(url))
    if parts.scheme not in SCHEMES:
        return f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}"
    if parts.scheme == "unix":
        return None if parts.path else "a unix:// URL needs the socket's path"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "port 0 is not a port"
    db = parts.path.strip("/")
    if db and not db.isdigit():
        return f"the database must be a number, got {db!r}"
    return None


def resolve(settings: Mapping[str, Any]) -> Settings:
    """Check the settings (defaults applied already) and return them typed.

    :raises TypeError: a setting has the wrong type.
    :raises ValueError: a setting has a wrong value.
    """

    def text(name: str) -> str | None:
        value = settings[name]
        if value is None or (isinstance(value, str) and value):
            return value
        raise TypeError(f"{name} must be a non-empty string or None, got {value!r}")

    def number(name: str, minimum: float) -> float:
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise ValueError(f"{name} must be a number of seconds >= {minimum}, got {value!r}")
        return float(value)

    def whole(name: str, optional: bool = False) -> Any:
        value = settings[name]
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{name} must be a whole number >= 1{' or None' if optional else ''}, got {value!r}"
            )
        return value

    inbound = text("REDIS_INBOUND_STREAM")
    dead = text("REDIS_DEAD_LETTER_STREAM")
    if dead is not None and dead == inbound:
        raise ValueError("REDIS_DEAD_LETTER_STREAM must differ from REDIS_INBOUND_STREAM")
    delay = number("REDIS_RECONNECT_DELAY", 0.01)
    return Settings(
        url=check_url(settings["REDIS_URL"]),
        inbound_stream=inbound,
        group=text("REDIS_GROUP"),
        consumer=text("REDIS_CONSUMER"),
        outbound_stream=text("REDIS_OUTBOUND_STREAM"),
        dead_letter_stream=dead,
        max_deliveries=whole("REDIS_MAX_DELIVERIES"),
        claim_idle=number("REDIS_CLAIM_IDLE", 0.01),
        batch=whole("REDIS_BATCH", optional=True),
        maxlen=whole("REDIS_MAXLEN", optional=True),
        connect_timeout=number("REDIS_CONNECT_TIMEOUT", 0),
        reconnect_delay=delay,
        reconnect_max_delay=number("REDIS_RECONNECT_MAX_DELAY", delay),
    )

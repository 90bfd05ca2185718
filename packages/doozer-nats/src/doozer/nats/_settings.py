"""Reading and checking the ``NATS_*`` settings of one application."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from doozer.config import (
    MASK,
    check_server_url,
    mask_url,
    read_file,
    read_seconds,
    read_text,
    read_whole_number,
)

DEFAULTS: Mapping[str, Any] = {
    "NATS_URL": "nats://localhost:4222",
    "NATS_STREAM": None,
    "NATS_SUBJECTS": None,
    "NATS_INBOUND_SUBJECT": None,
    "NATS_DURABLE": None,
    "NATS_OUTBOUND_SUBJECT": None,
    "NATS_DEAD_LETTER_SUBJECT": None,
    "NATS_DEAD_LETTER_STREAM": None,
    "NATS_ACK_WAIT": 30,
    "NATS_MAX_DELIVER": 5,
    "NATS_BATCH": None,
    "NATS_CONNECT_TIMEOUT": 30,
    "NATS_RECONNECT_DELAY": 1,
    "NATS_CREDS": None,
    "NATS_TOKEN": None,
    "NATS_USER": None,
    "NATS_PASSWORD": None,
    "NATS_TLS_CA_FILE": None,
    "NATS_TLS_CERT_FILE": None,
    "NATS_TLS_KEY_FILE": None,
}

#: What each setting means (reStructuredText), rendered by ``.. doozersettings::``.
DOCS: Mapping[str, str] = {
    "NATS_URL": (
        "The server, or several separated by commas: ``nats://host:port``, ``tls://`` for "
        "TLS, credentials as ``nats://user:password@host`` or ``nats://token@host``. Shown "
        "without password or token in errors and logs."
    ),
    "NATS_STREAM": (
        "The stream to consume, created if missing (a JetStream name: no dots, spaces, "
        "``*``, ``>`` or slashes); ``JetStream.consumer()`` needs it."
    ),
    "NATS_SUBJECTS": (
        "The subjects of a stream that has to be created (a list, or a comma-separated "
        "string). ``None``: ``NATS_INBOUND_SUBJECT``, else ``<stream>.>``."
    ),
    "NATS_INBOUND_SUBJECT": ("The durable consumer's filter subject. ``None``: the whole stream."),
    "NATS_DURABLE": (
        "The durable consumer's name, shared by all processes. ``None``: the application's name."
    ),
    "NATS_OUTBOUND_SUBJECT": ("Where ``JetStream.producer()`` and ``publish_result`` publish."),
    "NATS_DEAD_LETTER_SUBJECT": (
        "Where failed messages are published; it must not fall under the stream's own "
        "subjects. ``None``: ``doozer.dead.<stream>``."
    ),
    "NATS_DEAD_LETTER_STREAM": (
        "The stream created for the dead letters if no stream captures their subject. "
        "``None``: ``<stream>_dead``."
    ),
    "NATS_ACK_WAIT": (
        "Seconds JetStream waits for an acknowledgement before redelivering; a message held "
        "longer than a third of it gets in-progress acknowledgements."
    ),
    "NATS_MAX_DELIVER": "Deliveries of a message before it is dead-lettered.",
    "NATS_BATCH": "Messages pulled ahead at most. ``None``: twice the number of workers.",
    "NATS_CONNECT_TIMEOUT": "Seconds during which the first connection is tried.",
    "NATS_RECONNECT_DELAY": "Seconds between two reconnection attempts.",
    "NATS_CREDS": "A ``.creds`` file (a JWT and an NKey seed; needs the ``nkeys`` package).",
    "NATS_TOKEN": "An authentication token (never shown in errors or logs).",
    "NATS_USER": "A user name; goes with ``NATS_PASSWORD`` (set both, or neither).",
    "NATS_PASSWORD": (
        "The password of ``NATS_USER`` (set both, or neither); never shown in errors or logs."
    ),
    "NATS_TLS_CA_FILE": "A CA bundle (a file) to verify the server with.",
    "NATS_TLS_CERT_FILE": "A client certificate (a file); goes with ``NATS_TLS_KEY_FILE``.",
    "NATS_TLS_KEY_FILE": "The client certificate's key (a file); goes with ``NATS_TLS_CERT_FILE``.",
}

SCHEMES = ("nats", "tls", "ws", "wss")
URL_FORM = "nats://[user:password@]host[:port] (tls:// for TLS; several separated by commas)"
# user:password@ or token@ right after a scheme.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^@/\s,]+)@")


def mask_servers(text: str) -> str:
    """*text* with every URL's password, or token (``nats://token@host``), shown as ``***``."""

    def hide(match: re.Match[str]) -> str:
        user, colon, _secret = match.group("info").partition(":")
        return f"{match.group('head')}{user + ':' if colon else ''}{MASK}@"

    return mask_url(_USERINFO.sub(hide, text))


@dataclass(frozen=True)
class Settings:
    """The checked ``NATS_*`` settings (None where the default depends on the run)."""

    servers: tuple[str, ...]
    stream: str | None
    subjects: tuple[str, ...] | None
    inbound_subject: str | None
    durable: str | None
    outbound_subject: str | None
    dead_letter_subject: str | None
    dead_letter_stream: str | None
    ack_wait: float
    max_deliver: int
    batch: int | None
    connect_timeout: float
    reconnect_delay: float
    creds: str | None = None
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def where(self) -> str:
        """The servers, comma-separated, without credentials."""
        return mask_servers(",".join(self.servers))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret a log line must never show (to scrub library messages)."""
        found = [s for s in (self.token, self.password) if s]
        for server in self.servers:
            info = urlsplit(server).netloc.rpartition("@")[0]
            found += [part for part in info.split(":")[-1:] if part]
        return tuple(found)

    def scrub(self, text: str) -> str:
        """*text* without any of the secrets (for messages that come from nats-py)."""
        text = mask_servers(text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def check_servers(url: object) -> tuple[str, ...]:
    """The servers of ``NATS_URL``; one line naming the culprit (masked) if one is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"NATS_URL must be a NATS URL like {URL_FORM}, got {url!r}")
    servers = tuple(part.strip() for part in url.split(",") if part.strip())
    for server in servers:
        check_server_url("NATS_URL", server, schemes=SCHEMES, form=URL_FORM, mask=mask_servers)
    return servers


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether the NATS *subject* falls under *pattern* (``*`` one token, ``>`` the rest)."""
    tokens, wanted = pattern.split("."), subject.split(".")
    for index, token in enumerate(tokens):
        if token == ">":
            return len(wanted) > index
        if index >= len(wanted) or (token != "*" and token != wanted[index]):
            return False
    return len(tokens) == len(wanted)


def resolve(settings: Mapping[str, Any]) -> Settings:
    """Check the settings (defaults applied already) and return them typed.

    :raises TypeError: a setting has the wrong type.
    :raises ValueError: a setting has a wrong value.
    """

    def text(name: str) -> str | None:
        return read_text(settings, name)

    def name_without_dots(name: str) -> str | None:
        value = text(name)
        if value is not None and re.search(r"[.\s*>/\\]", value):
            raise ValueError(
                f"{name} {value!r} is not a JetStream name: no dots, spaces, '*', '>' or slashes"
            )
        return value

    subjects = settings["NATS_SUBJECTS"]
    if isinstance(subjects, str):
        subjects = [part.strip() for part in subjects.split(",") if part.strip()]
    if subjects is not None and (
        not isinstance(subjects, Sequence)
        or not subjects
        or not all(isinstance(s, str) and s for s in subjects)
    ):
        raise TypeError(f"NATS_SUBJECTS must be a list of subjects, or None, got {subjects!r}")
    stream = name_without_dots("NATS_STREAM")
    inbound = text("NATS_INBOUND_SUBJECT")
    dead = text("NATS_DEAD_LETTER_SUBJECT")
    if dead is not None:
        for pattern in subjects or ([inbound] if inbound else []):
            if subject_matches(pattern, dead):
                raise ValueError(
                    f"NATS_DEAD_LETTER_SUBJECT {dead!r} falls under the stream's subject "
                    f"{pattern!r}: dead letters would be consumed again; pick another subject"
                )
    user, password = text("NATS_USER"), text("NATS_PASSWORD")
    if (user is None) != (password is None):
        raise ValueError("NATS_USER and NATS_PASSWORD go together: set both, or neither")
    creds = read_file(settings, "NATS_CREDS")
    if creds is not None and importlib.util.find_spec("nkeys") is None:
        raise ValueError(
            "NATS_CREDS needs the nkeys package (nats-py signs with it), which is not "
            "installed: pip install nkeys"
        )
    cert, key = read_file(settings, "NATS_TLS_CERT_FILE"), read_file(settings, "NATS_TLS_KEY_FILE")
    if (cert is None) != (key is None):
        raise ValueError(
            "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together: set both, or neither"
        )
    return Settings(
        servers=check_servers(settings["NATS_URL"]),
        stream=stream,
        subjects=tuple(subjects) if subjects is not None else None,
        inbound_subject=inbound,
        durable=name_without_dots("NATS_DURABLE"),
        outbound_subject=text("NATS_OUTBOUND_SUBJECT"),
        dead_letter_subject=dead,
        dead_letter_stream=name_without_dots("NATS_DEAD_LETTER_STREAM"),
        ack_wait=read_seconds(settings, "NATS_ACK_WAIT", minimum=0.5),
        max_deliver=read_whole_number(settings, "NATS_MAX_DELIVER"),
        batch=read_whole_number(settings, "NATS_BATCH", optional=True),
        connect_timeout=read_seconds(settings, "NATS_CONNECT_TIMEOUT"),
        reconnect_delay=read_seconds(settings, "NATS_RECONNECT_DELAY", minimum=0.01),
        creds=creds,
        token=text("NATS_TOKEN"),
        user=user,
        password=password,
        tls_ca=read_file(settings, "NATS_TLS_CA_FILE"),
        tls_cert=cert,
        tls_key=key,
    )

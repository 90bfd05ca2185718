"""The settings mapping shared by an application and its extensions."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Config", "is_secret", "mask_url"]

#: What a masked secret shows instead of its value.
MASK = "***"

# user:password@ in anything that looks like a URL (several in one string too).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s,]*:)[^@\s,]*(?=@)")
# NATS URLs may carry a bare token as their user part: nats://TOKEN@host.
_URL_TOKEN = re.compile(r"(?P<head>\b(?:nats|tls|ws|wss)://)[^:/@\s,]+(?=@)")
_SECRET_WORDS = frozenset({"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIALS"})
# Names that contain KEY but hold no secret: routing keys decide where messages go.
_NOT_SECRET = re.compile(r"ROUTING_KEYS?$|ORDERING_KEY$")


def mask_url(text: str) -> str:
    """Return *text* with the password of every URL in it replaced by ``***``.

    ``amqp://guest:guest@host/`` becomes ``amqp://guest:***@host/``, and the
    bare token of a NATS URL (``nats://TOKEN@host``) is masked too; text
    without a password is returned unchanged.
    """
    masked = _URL_PASSWORD.sub(lambda match: match.group("head") + MASK, text)
    return _URL_TOKEN.sub(lambda match: match.group("head") + MASK, masked)


def is_secret(name: str) -> bool:
    """Whether the setting *name* holds a secret (PASSWORD, SECRET, TOKEN, KEY...).

    The words are matched between underscores: ``REDIS_PASSWORD`` and
    ``API_KEY`` are secrets, ``AMQP_OUTBOUND_ROUTING_KEY`` is not.
    """
    if _NOT_SECRET.search(name):
        return False
    return any(word in _SECRET_WORDS for word in name.upper().split("_"))


def _masked(name: str, value: Any) -> Any:
    if is_secret(name) and value is not None:
        return MASK
    if isinstance(value, str):
        return mask_url(value)
    return value


class Config(dict[str, Any]):
    """A ``dict`` of settings that can be filled from mappings, objects and the environment.

    Only UPPERCASE names are taken, so a module or class can hold helpers
    and imports next to its settings without leaking them in. Its
    :func:`repr` and :func:`str` mask secrets (see :func:`is_secret` and
    :func:`mask_url`), so logging the settings leaks no password.
    """

    def from_mapping(self, mapping: Mapping[str, Any]) -> None:
        """Update the settings with the UPPERCASE keys of *mapping*."""
        self.update((key, value) for key, value in mapping.items() if key.isupper())

    def from_object(self, obj: object) -> None:
        """Update the settings with the UPPERCASE attributes of *obj*.

        *obj* is typically a module or a class.
        """
        self.update((name, getattr(obj, name)) for name in dir(obj) if name.isupper())

    def from_prefixed_env(
        self, prefix: str = "DOOZER_", *, loads: Callable[[str], Any] = json.loads
    ) -> bool:
        """Update the settings from environment variables that start with *prefix*.

        ``DOOZER_AMQP_URL=amqp://...`` sets ``AMQP_URL``. Each value is
        parsed with *loads* (JSON by default, so ``DOOZER_DEBUG=true`` is
        ``True`` and ``DOOZER_SHUTDOWN_TIMEOUT=10`` is ``10``); a value it
        cannot parse is kept as a string. Variables are read in sorted order.

        :returns: True (as Flask's method does), so it can be chained in conditions.
        """
        for key in sorted(os.environ):
            if not key.startswith(prefix) or key == prefix:
                continue
            name = key[len(prefix) :]
            if not name.isupper():
                continue
            raw = os.environ[key]
            try:
                value = loads(raw)
            except Exception:  # anything loads() rejects is a plain string
                value = raw
            self[name] = value
        return True

    def __repr__(self) -> str:
        masked = {name: _masked(name, value) for name, value in self.items()}
        return f"{type(self).__name__}({masked!r})"

    __str__ = __repr__

"""The settings mapping shared by an application and its extensions."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, overload
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "Config",
    "check_server_url",
    "is_secret",
    "mask_url",
    "read_file",
    "read_seconds",
    "read_text",
    "read_whole_number",
]

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


# -- checked readers of settings ------------------------------------------------
#
# Extensions check their settings when they are initialized, with one
# message style: "NAME must be ..., got VALUE" (ValueError for a value out of
# range, TypeError for text of the wrong kind), one line, secrets masked.


@overload
def read_seconds(
    settings: Mapping[str, Any],
    name: str,
    *,
    minimum: float = 0,
    exclusive: bool = False,
    optional: Literal[False] = False,
    parse_text: bool = False,
) -> float: ...
@overload
def read_seconds(
    settings: Mapping[str, Any],
    name: str,
    *,
    minimum: float = 0,
    exclusive: bool = False,
    optional: Literal[True],
    parse_text: bool = False,
) -> float | None: ...
def read_seconds(
    settings: Mapping[str, Any],
    name: str,
    *,
    minimum: float = 0,
    exclusive: bool = False,
    optional: bool = False,
    parse_text: bool = False,
) -> float | None:
    """The setting *name*, a number of seconds ``>= minimum`` (``> minimum`` if *exclusive*).

    None is accepted when *optional*; with *parse_text*, text that reads as
    a number (``"2.5"``, as from the environment) is taken as that number.

    :raises ValueError: ``NAME must be a number of seconds >= 0, got 'soon'``.
    """
    value = settings[name]
    if value is None and optional:
        return None
    number = _as_number(value, float, parse_text)
    if number is None or number != number or number < minimum or (exclusive and number == minimum):
        bound = f"{'>' if exclusive else '>='} {minimum}"
        raise ValueError(
            f"{name} must be a number of seconds {bound}{_OR_NONE[optional]}, got {value!r}"
        )
    return float(number)


@overload
def read_whole_number(
    settings: Mapping[str, Any],
    name: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    optional: Literal[False] = False,
    parse_text: bool = False,
) -> int: ...
@overload
def read_whole_number(
    settings: Mapping[str, Any],
    name: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    optional: Literal[True],
    parse_text: bool = False,
) -> int | None: ...
def read_whole_number(
    settings: Mapping[str, Any],
    name: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    optional: bool = False,
    parse_text: bool = False,
) -> int | None:
    """The setting *name*, a whole number ``>= minimum`` (and ``<= maximum`` if given).

    None is accepted when *optional*; with *parse_text*, text of digits (as
    from the environment) is taken as that number.

    :raises ValueError: ``NAME must be a whole number >= 1 or None, got 0``.
    """
    value = settings[name]
    if value is None and optional:
        return None
    number = _as_number(value, int, parse_text)
    if (
        not isinstance(number, int)
        or number < minimum
        or (maximum is not None and number > maximum)
    ):
        bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(
            f"{name} must be a whole number {bound}{_OR_NONE[optional]}, got {value!r}"
        )
    return number


@overload
def read_text(
    settings: Mapping[str, Any], name: str, *, optional: Literal[True] = True
) -> str | None: ...
@overload
def read_text(settings: Mapping[str, Any], name: str, *, optional: Literal[False]) -> str: ...
def read_text(settings: Mapping[str, Any], name: str, *, optional: bool = True) -> str | None:
    """The setting *name*, a non-empty string, or None when *optional* (the default).

    A wrong value of a secret setting (see :func:`is_secret`) is shown as ``***``.

    :raises TypeError: ``NAME must be a non-empty string or None, got 42``.
    """
    value = settings[name]
    if (value is None and optional) or (isinstance(value, str) and value):
        return value
    shown = MASK if is_secret(name) and value is not None else repr(value)
    raise TypeError(f"{name} must be a non-empty string{_OR_NONE[optional]}, got {shown}")


def read_file(settings: Mapping[str, Any], name: str) -> str | None:
    """The setting *name*, the path of a readable file (a certificate, a key), or None.

    :raises TypeError: ``NAME must be a non-empty string or None, got 42``.
    :raises ValueError: ``NAME '/etc/ca.pem' is not a readable file: check the path``.
    """
    path = read_text(settings, name)
    if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
        raise ValueError(f"{name} {path!r} is not a readable file: check the path")
    return path


def check_server_url(
    name: str,
    url: str,
    *,
    schemes: Collection[str],
    form: str,
    socket_schemes: Collection[str] = (),
    also: Callable[[SplitResult], str | None] | None = None,
    mask: Callable[[str], str] = mask_url,
) -> str:
    """Return *url* if it names a server Doozer can connect to; else one masked line.

    It must parse, have one of *schemes*, and name a host with a port other
    than 0, or, for one of *socket_schemes* (``unix``), a socket's path.
    *also* may add a check of its own (a few words, or None when fine).

    :param form: how such a URL is written, shown in the error as the fix.
    :param mask: hides the URL's secrets (default :func:`mask_url`).
    :raises ValueError: ``NAME 'redis://u:***@h:x' is not usable: <why>; use <form>``.
    """
    problem = _server_url_problem(url, schemes, socket_schemes, mask)
    if problem is None and also is not None:
        problem = also(urlsplit(url))
    if problem:
        raise ValueError(f"{name} {mask(url)!r} is not usable: {problem}; use {form}")
    return url


_OR_NONE = {False: "", True: " or None"}


def _as_number(
    value: object, kind: type[int] | type[float], parse_text: bool
) -> int | float | None:
    if isinstance(value, str) and parse_text:
        try:
            return kind(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if kind is int and not isinstance(value, int):
        return None
    return value


def _server_url_problem(
    url: str, schemes: Collection[str], socket_schemes: Collection[str], mask: Callable[[str], str]
) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is not a number, a broken IPv6 host
        return mask(str(exc).replace(url, mask(url)))
    if parts.scheme not in schemes:
        return f"the scheme must be one of {', '.join(s + '://' for s in schemes)}"
    if parts.scheme in socket_schemes:
        return None if parts.path else f"a {parts.scheme}:// URL needs the socket's path"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "port 0 is not a port"
    return None

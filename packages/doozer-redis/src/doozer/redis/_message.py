"""A stream entry as Doozer sees it: a :class:`~doozer.types.Delivery`."""

from __future__ import annotations

import reprlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from doozer import headers as names

if TYPE_CHECKING:
    from doozer.outcomes import Outcome

#: What settles a message: ``await settle(message, outcome)``.
Settle = Callable[["Message", "Outcome"], Awaitable[None]]

__all__ = ["BODY", "Message", "decode_fields", "fields_of", "headers_of"]

#: The field that holds a message's body.
BODY = b"body"


def decode_fields(fields: Mapping[bytes, bytes]) -> dict[str, Any]:
    """The fields other than ``body``, as ``str`` where they are UTF-8 (else bytes)."""
    decoded: dict[str, Any] = {}
    for key, value in fields.items():
        if key == BODY:
            continue
        try:
            decoded[key.decode()] = value.decode()
        except UnicodeDecodeError:
            decoded[key.decode(errors="replace")] = value
    return decoded


def headers_of(fields: Mapping[bytes, bytes]) -> dict[str, bytes]:
    """An entry's fields other than ``body`` with ``str`` keys, losslessly (see :func:`fields_of`).

    For republishing an entry (a dead letter, a retry) through
    :meth:`doozer.Application.publishing`, whose wrappers may add headers.
    """
    return {key.decode("utf-8", "surrogateescape"): v for key, v in fields.items() if key != BODY}


def fields_of(body: bytes | str | None, headers: Mapping[str, Any]) -> list[Any]:
    """The flat field list of an entry: ``body`` first, then *headers* (from :func:`headers_of`)."""
    flat: list[Any] = [] if body is None else [BODY, body]
    for key, value in headers.items():
        flat += [key.encode("utf-8", "surrogateescape"), value]
    return flat


class Message:
    """One entry of a stream, read by a consumer group; made by :class:`Consumer`.

    Doozer settles it when it is finished: acknowledged, moved to the
    dead-letter stream, scheduled for a retry, or handed back.
    """

    __slots__ = {
        "_described": None,
        "_settle_with": None,
        "_settled": None,
        "attempt": "The attempt at processing it: 1, or the retry's number (``x-doozer-attempt``).",
        "body": "The ``body`` field (bytes), None if the entry has none.",
        "deliveries": "How many times the group delivered it (1 the first time).",
        "fields": "The whole entry: every field, bytes to bytes.",
        "first_failure": "When a retried message first failed (epoch seconds), else None.",
        "headers": "The fields other than ``body``, decoded (str, or bytes when not UTF-8).",
        "id": 'The entry\'s id in its stream ("1700000000000-0").',
        "stream": "The stream it was read from.",
    }

    def __init__(
        self,
        settle: Settle,
        stream: str,
        entry_id: str,
        fields: dict[bytes, bytes],
        deliveries: int = 1,
        described: Mapping[str, str | int] | None = None,
    ) -> None:
        self._settle_with = settle
        self._described = described or {}
        self._settled = False
        self.stream = stream
        self.id = entry_id
        self.fields = fields
        self.body = fields.get(BODY)
        self.deliveries = deliveries
        self.headers = decode_fields(fields) if len(fields) > 1 or self.body is None else {}
        self.attempt = _whole(self.headers.get(names.ATTEMPT), 1)
        first = self.headers.get(names.FIRST_FAILURE)
        self.first_failure = _number(first)

    @property
    def redelivered(self) -> bool:
        """Whether the group delivered it before (to this or another consumer)."""
        return self.deliveries > 1

    @property
    def messaging_attributes(self) -> dict[str, str | int]:
        """The entry's OpenTelemetry messaging attributes (``messaging.system`` ``"redis"``,
        the stream, the group, the entry id, the server's address and port)."""
        return {**self._described, "messaging.message.id": self.id}

    @property
    def settled(self) -> bool:
        """Whether Doozer settled it already."""
        return self._settled

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.stream}/{self.id} "
            f"body={reprlib.repr(self.body)} deliveries={self.deliveries}>"
        )

    async def settle(self, outcome: Outcome) -> None:
        """Tell Redis what became of the entry (Doozer calls this once)."""
        if self._settled:
            return
        self._settled = True
        await self._settle_with(self, outcome)


def _whole(value: Any, default: int) -> int:
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return default


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None

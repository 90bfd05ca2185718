"""What differs between aiormq 6 (aio-pika 9, Python 3.10) and aiormq 7 (aio-pika 10).

doozer-amqp consumes through aiormq's channel. What it uses there is the same
in both (``basic_consume`` and its callback taking a ``DeliveredMessage``, the
delivery's fields and properties, ``basic_ack``/``nack``/``reject``/``cancel``,
the channel's exceptions), except two things:

* Being told that the broker cancelled a consumer (its queue was deleted, its
  node failed over). aiormq 7 calls the channel's
  ``on_consumer_cancel_callbacks`` with the broker's ``Basic.Cancel``; aiormq 6
  only forgets the consumer, silently, so a consumer would wait forever on a
  queue that no longer feeds it. On aiormq 6 the same notice is given by
  wrapping the channel's handler of ``Basic.Cancel`` frames once, when this
  module is imported (before any channel exists: a channel's reader looks its
  handlers up when it starts). The wrapper calls the original handler first,
  then the callbacks registered here for that channel, and only for the
  broker's ``Basic.Cancel``, not for the ``CancelOk`` that answers our own
  ``basic_cancel``. Channels nobody registered for behave exactly as before.
* What a refused connection handshake raises (a ``Connection.Close`` instead
  of ``Connection.OpenOk``: an unknown virtual host, say): aiormq 7 raises
  ``InvalidFrameError("Expected Connection.OpenOk, got <Connection.Close>")``,
  aiormq 6 pamqp's ``AMQPInternalError("one of [...]", <Connection.Close>)``.
  :func:`closed_by_broker_in_handshake` recognizes both.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aiormq.abc
import aiormq.channel
from aiormq import spec
from aiormq.abc import AbstractChannel
from aiormq.exceptions import InvalidFrameError

__all__ = ["NATIVE_CANCEL_CALLBACKS", "closed_by_broker_in_handshake", "on_consumer_cancel"]

#: ``callback(frame)``: the broker cancelled the consumer ``frame.consumer_tag``.
CancelCallback = Callable[[spec.Basic.Cancel], Awaitable[None]]

#: Whether aiormq calls consumer cancel callbacks itself (aiormq 7 and later,
#: which added them together with this type).
NATIVE_CANCEL_CALLBACKS = hasattr(aiormq.abc, "ConsumerCancelCallback")

_logger = logging.getLogger(__name__)

# aiormq 6: the callbacks registered for each channel, forgotten with the channel.
_callbacks: weakref.WeakKeyDictionary[AbstractChannel, list[CancelCallback]] = (
    weakref.WeakKeyDictionary()
)


def on_consumer_cancel(channel: AbstractChannel, callback: CancelCallback) -> None:
    """Have *callback* awaited when the broker cancels a consumer of *channel*.

    It runs in the channel's frame reader, as aiormq 7 runs its own cancel
    callbacks: it must not wait for the channel (start a task for that). An
    exception it raises is logged, and does not close the channel.
    """
    if NATIVE_CANCEL_CALLBACKS:
        channel.on_consumer_cancel_callbacks.add(callback)
    else:
        _callbacks.setdefault(channel, []).append(callback)


def closed_by_broker_in_handshake(exc: BaseException) -> bool:
    """Whether *exc* says the broker answered the connection handshake with ``Connection.Close``."""
    if isinstance(exc, InvalidFrameError):  # aiormq 7: the frame is in the message
        return "Connection.Close" in str(exc)
    # aiormq 6 (pamqp's AMQPInternalError): the frame is an argument.
    return any(isinstance(arg, spec.Connection.Close) for arg in exc.args)


def _tell_cancel_callbacks() -> None:
    """Wrap aiormq 6's handler of ``Basic.Cancel`` (and ``CancelOk``) frames, once."""
    handler_name = "_on_cancel_frame"  # aiormq 6.8 and 6.9 name it so
    original: Callable[[Any, Any], Awaitable[None]] = getattr(aiormq.channel.Channel, handler_name)
    if getattr(original, "doozer_tells_cancel_callbacks", False):
        return

    async def on_cancel_frame(channel: Any, frame: Any) -> None:
        await original(channel, frame)
        if not isinstance(frame, spec.Basic.Cancel):
            return  # a CancelOk: the answer to our own basic_cancel
        for callback in tuple(_callbacks.get(channel, ())):
            try:
                await callback(frame)
            except Exception:
                _logger.exception("A consumer cancel callback failed")

    on_cancel_frame.doozer_tells_cancel_callbacks = True  # type: ignore[attr-defined]
    setattr(aiormq.channel.Channel, handler_name, on_cancel_frame)


if not NATIVE_CANCEL_CALLBACKS:  # pragma: no cover - aiormq 6 (Python 3.10)
    _tell_cancel_callbacks()

"""Consume from and publish to Redis Streams, at least once, with consumer groups.

.. code-block:: python

    from doozer import Application
    from doozer.redis import RedisStreams


    async def process(app, message):
        return [message.body.upper()]


    app = Application("shouter", {"REDIS_INBOUND_STREAM": "words",
                                  "REDIS_OUTBOUND_STREAM": "shouts"},
                      callback=process)
    redis = RedisStreams(app)
    app.consumer = redis.consumer()
    app.result_postprocessor(redis.publish_result)

Each entry is acknowledged once Doozer finished it; one that failed goes to
the dead-letter stream with the reason in its fields, in the same step.
"""

from __future__ import annotations

from .__about__ import __version__
from ._connection import Connection
from ._consumer import Consumer
from ._extension import FALLBACK_BATCH, STARTUP_ORDER, TEARDOWN_ORDER, RedisStreams
from ._message import Message
from ._producer import Producer

# Documented, and shown in signatures, as doozer.redis.X.
for _public in (Connection, Consumer, Message, Producer, RedisStreams):
    _public.__module__ = __name__
del _public

__all__ = [
    "FALLBACK_BATCH",
    "STARTUP_ORDER",
    "TEARDOWN_ORDER",
    "Connection",
    "Consumer",
    "Message",
    "Producer",
    "RedisStreams",
    "__version__",
]

"""Consume from and publish to NATS JetStream, at least once, with a durable pull consumer.

.. code-block:: python

    from doozer import Application
    from doozer.nats import JetStream


    async def process(app, message):
        return [message.body.upper()]


    app = Application("shouter", {"NATS_STREAM": "WORDS",
                                  "NATS_INBOUND_SUBJECT": "words.new",
                                  "NATS_OUTBOUND_SUBJECT": "shouts.new"},
                      callback=process)
    nats = JetStream(app)
    app.consumer = nats.consumer()
    app.result_postprocessor(nats.publish_result)

Each message is acknowledged once Doozer finished it; one that failed is
published to the dead-letter subject with the reason in its headers, then
terminated.
"""

from __future__ import annotations

from .__about__ import __version__
from ._connection import Connection
from ._consumer import Consumer, Source
from ._extension import FALLBACK_BATCH, STARTUP_ORDER, TEARDOWN_ORDER, JetStream
from ._message import Message
from ._producer import Producer

# Documented, and shown in signatures, as doozer.nats.X.
for _public in (Connection, Consumer, JetStream, Message, Producer, Source):
    _public.__module__ = __name__
del _public

__all__ = [
    "FALLBACK_BATCH",
    "STARTUP_ORDER",
    "TEARDOWN_ORDER",
    "Connection",
    "Consumer",
    "JetStream",
    "Message",
    "Producer",
    "Source",
    "__version__",
]

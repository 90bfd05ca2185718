"""Consume from and publish to RabbitMQ (AMQP 0-9-1), at least once.

.. code-block:: python

    from doozer import Application
    from doozer.amqp import AMQP


    async def process(app, message):
        return [message.body.upper()]


    app = Application("shouter", {"AMQP_INBOUND_QUEUE": "words",
                                  "AMQP_OUTBOUND_ROUTING_KEY": "shouts"},
                      callback=process)
    amqp = AMQP(app)
    app.consumer = amqp.consumer()
    app.result_postprocessor(amqp.publish_result)

Each message is acknowledged only once Doozer finished it; one that failed
is first published to the dead-letter queue with the reason in its headers.
"""

from __future__ import annotations

from .__about__ import __version__
from ._consumer import Consumer
from ._extension import (
    AMQP,
    ERROR_HEADER,
    ERROR_TYPE_HEADER,
    FAILED_AT_HEADER,
    FALLBACK_PREFETCH_COUNT,
    ORIGINAL_EXCHANGE_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER,
)
from ._message import RETRY_HEADER, Message
from ._producer import Producer

# Documented, and shown in signatures, as doozer.amqp.X.
for _public in (AMQP, Consumer, Message, Producer):
    _public.__module__ = __name__
del _public

__all__ = [
    "AMQP",
    "ERROR_HEADER",
    "ERROR_TYPE_HEADER",
    "FAILED_AT_HEADER",
    "FALLBACK_PREFETCH_COUNT",
    "ORIGINAL_EXCHANGE_HEADER",
    "ORIGINAL_ROUTING_KEY_HEADER",
    "RETRY_HEADER",
    "Consumer",
    "Message",
    "Producer",
    "__version__",
]

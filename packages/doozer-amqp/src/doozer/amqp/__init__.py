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

Each message is a delivery that Doozer settles once it is finished:
acknowledged; dead-lettered with the reason in its headers; retried later
through a delay queue on the broker; or returned to its queue.
"""

from __future__ import annotations

from doozer.headers import ATTEMPT as ATTEMPT_HEADER
from doozer.headers import ERROR as ERROR_HEADER
from doozer.headers import ERROR_TYPE as ERROR_TYPE_HEADER
from doozer.headers import FAILED_AT as FAILED_AT_HEADER
from doozer.headers import FIRST_FAILURE as FIRST_FAILURE_HEADER

from .__about__ import __version__
from ._consumer import Consumer
from ._extension import AMQP, FALLBACK_PREFETCH_COUNT
from ._message import RETRY_HEADER, Message
from ._producer import Producer, Result, UnroutableError
from ._settle import ORIGINAL_EXCHANGE_HEADER, ORIGINAL_ROUTING_KEY_HEADER

# Documented, and shown in signatures, as doozer.amqp.X.
for _public in (AMQP, Consumer, Message, Producer, Result, UnroutableError):
    _public.__module__ = __name__
del _public

__all__ = [
    "AMQP",
    "ATTEMPT_HEADER",
    "ERROR_HEADER",
    "ERROR_TYPE_HEADER",
    "FAILED_AT_HEADER",
    "FALLBACK_PREFETCH_COUNT",
    "FIRST_FAILURE_HEADER",
    "ORIGINAL_EXCHANGE_HEADER",
    "ORIGINAL_ROUTING_KEY_HEADER",
    "RETRY_HEADER",
    "Consumer",
    "Message",
    "Producer",
    "Result",
    "UnroutableError",
    "__version__",
]

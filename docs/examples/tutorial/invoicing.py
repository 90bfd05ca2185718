"""The tutorial's service: orders in, invoices out, bad orders to the dead letters.

Run it with ``python -m doozer run invoicing -w 4`` from this directory.
Settings can be overridden from the environment: ``DOOZER_AMQP_URL=...``.
"""

from __future__ import annotations

import json
from typing import Any

from doozer import Abort, Application
from doozer.amqp import AMQP


async def invoice(app: Application, order: dict[str, Any]) -> list[dict[str, Any]]:
    """Turn one order into one invoice."""
    if order["quantity"] <= 0:
        raise Abort("order.empty", order)  # skipped on purpose: acknowledged, no invoice
    total = round(order["quantity"] * order["unit_price"], 2)
    app.logger.info("order %s: %s", order["id"], total)
    return [{"order": order["id"], "customer": order["customer"], "total": total}]


app = Application(
    "invoicing",
    {
        "AMQP_URL": "amqp://guest:guest@localhost:5672/",
        "AMQP_INBOUND_QUEUE": "orders",
        # Results go to the default exchange with this routing key, into the
        # queue of the same name, which AMQP declares.
        "AMQP_OUTBOUND_ROUTING_KEY": "invoices",
        "AMQP_OUTBOUND_QUEUE": "invoices",
    },
    callback=invoice,
)
app.settings.from_prefixed_env()  # DOOZER_AMQP_URL, DOOZER_AMQP_INBOUND_QUEUE, ...

amqp = AMQP(app)
app.consumer = amqp.consumer()


@app.message_preprocessor
async def decode(app: Application, message: Any) -> dict[str, Any]:
    """The body is JSON; one that is not fails, and goes to ``orders.dead``."""
    order: dict[str, Any] = json.loads(message.body)
    return order


@app.result_postprocessor
async def encode(app: Application, invoice: dict[str, Any]) -> bytes:
    return json.dumps(invoice).encode()


app.result_postprocessor(amqp.publish_result)

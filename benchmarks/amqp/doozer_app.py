"""Doozer with doozer-amqp: ``python -m doozer run benchmarks.amqp.doozer_app -w N``."""

from __future__ import annotations

from doozer import Application
from doozer.amqp import AMQP

from .common import PREFETCH, QUEUE, URL, Tally, wait_for_go

tally = Tally()


async def handle(app: Application, message: object) -> None:
    tally.add()


app = Application(
    "bench-doozer",
    {"AMQP_URL": URL, "AMQP_INBOUND_QUEUE": QUEUE, "AMQP_PREFETCH_COUNT": PREFETCH},
    callback=handle,
)
amqp = AMQP(app)
app.consumer = amqp.consumer()


@app.startup
async def ready(app: Application) -> None:
    await wait_for_go()


@app.teardown
async def report(app: Application) -> None:
    tally.write()

"""A doozer-amqp service with Prometheus(app), for the readiness tests.

``python -m doozer run tests.prometheus.amqp_service`` with
``DOOZER_TEST_AMQP_URL`` (a fault proxy in front of the test broker),
``DOOZER_TEST_QUEUE`` and the extension's settings as ``DOOZER_PROMETHEUS_*``.
It prints ``listening <port>`` once the listener is up and ``done <body>``
after each message.
"""

from __future__ import annotations

import os

from doozer import Application
from doozer.amqp import AMQP, Message
from doozer.contrib.prometheus import Prometheus


async def process(app: Application, message: Message) -> None:
    print(f"done {message.body.decode()}", flush=True)


app = Application(
    "prometheus-amqp",
    {
        "AMQP_URL": os.environ["DOOZER_TEST_AMQP_URL"],
        "AMQP_INBOUND_QUEUE": os.environ["DOOZER_TEST_QUEUE"],
        "AMQP_RECONNECT_DELAY": 0.2,
        "AMQP_RECONNECT_MAX_DELAY": 1,
        "AMQP_CONNECT_TIMEOUT": 10,
    },
    callback=process,
)
app.settings.from_prefixed_env("DOOZER_")
amqp = AMQP(app)
app.consumer = amqp.consumer()
prometheus = Prometheus(app)


@app.startup
async def announce(app: Application) -> None:
    print(f"listening {prometheus.port}", flush=True)

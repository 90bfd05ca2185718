"""A NATS JetStream service with Prometheus(app), for the readiness tests.

``python -m doozer run tests.prometheus.nats_service`` with
``DOOZER_TEST_NATS_URL`` (a fault proxy in front of the test server),
``DOOZER_TEST_STREAM`` and the extension's settings as ``DOOZER_PROMETHEUS_*``.
It prints ``listening <port>`` once the listener is up and ``done <body>``
after each message.
"""

from __future__ import annotations

import os

from doozer import Application
from doozer.contrib.prometheus import Prometheus
from doozer.nats import JetStream, Message

STREAM = os.environ["DOOZER_TEST_STREAM"]


async def process(app: Application, message: Message) -> None:
    print(f"done {message.body.decode()}", flush=True)


app = Application(
    "prometheus-nats",
    {
        "NATS_URL": os.environ["DOOZER_TEST_NATS_URL"],
        "NATS_STREAM": STREAM,
        "NATS_SUBJECTS": [f"{STREAM}.in", f"{STREAM}.out"],
        "NATS_INBOUND_SUBJECT": f"{STREAM}.in",
        "NATS_DURABLE": "prometheus-nats",
        "NATS_RECONNECT_DELAY": 0.2,
        "NATS_CONNECT_TIMEOUT": 10,
    },
    callback=process,
)
app.settings.from_prefixed_env("DOOZER_")
nats = JetStream(app)
app.consumer = nats.consumer()
prometheus = Prometheus(app)


@app.startup
async def announce(app: Application) -> None:
    print(f"listening {prometheus.port}", flush=True)

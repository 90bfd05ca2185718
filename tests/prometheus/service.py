"""The application the Prometheus tests run, configured by environment variables.

``python -m doozer run tests.prometheus.service -w N`` with:

- ``DOOZER_TEST_MESSAGES``: comma-separated bodies put on a
  :class:`~doozer.testing.MemoryQueue` (left open, so the service keeps
  running once they are done): ``ok`` succeeds, ``abort`` aborts, ``fail``
  raises ValueError, ``retry`` raises RetryableException (retried once, then
  failed), ``block:S`` blocks the event loop S seconds (time.sleep), ``sleep:S``
  awaits S seconds;
- ``DOOZER_PROMETHEUS_*``: the extension's settings, read as in production
  with :meth:`~doozer.config.Config.from_prefixed_env`.

It prints ``listening <port>`` once the listener is up, and ``started
<body>`` / ``done <body>`` around each message.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from doozer import Abort, Application
from doozer.contrib.prometheus import Prometheus
from doozer.contrib.retry import Retry, RetryableException
from doozer.testing import MemoryDelivery, MemoryQueue

BODIES = [body for body in os.environ.get("DOOZER_TEST_MESSAGES", "").split(",") if body]


async def process(app: Application, message: MemoryDelivery) -> list[Any]:
    body: str = message.body
    print(f"started {body}", flush=True)
    kind, _, argument = body.partition(":")
    try:
        if kind == "abort":
            raise Abort("test.aborted", message)
        if kind == "fail":
            raise ValueError("this message fails")
        if kind == "retry":
            raise RetryableException("try again")
        if kind == "block":
            time.sleep(float(argument))  # noqa: ASYNC251 - blocks the event loop, on purpose
        elif kind == "sleep":
            await asyncio.sleep(float(argument))
    finally:
        print(f"done {body}", flush=True)
    return [body]


app = Application("prometheus-test", consumer=MemoryQueue(BODIES), callback=process)
app.settings.from_prefixed_env("DOOZER_")
Retry(app, threshold=1, delay=0)
prometheus = Prometheus(app)


@app.startup
async def announce(app: Application) -> None:
    print(f"listening {prometheus.port}", flush=True)


@app.error
async def quiet(app: Application, message: Any, exception: Exception) -> None:
    pass  # the expected failures need no traceback in the output

"""Prometheus metrics and health probes for a Doozer application.

:class:`Prometheus` starts one HTTP listener with the application (before
the transports finish starting, after they connect) and stops it once
teardown is over. It serves:

``/metrics``
    the application's metrics (see :doc:`/prometheus`) and whatever else
    is registered in prometheus-client's default registry (process and
    platform metrics, your own metrics), in the Prometheus text format;
``/livez``
    200 while the event loop answers within ``PROMETHEUS_LIVENESS_TIMEOUT``
    and the application makes progress; 503 (the body says why) when a
    callback blocks the loop, or when messages wait for a worker but none
    started or finished for ``PROMETHEUS_STALL_TIMEOUT`` seconds;
``/readyz``
    200 once startup finished, while the transport (if it tells, with a
    ``ready`` attribute) is connected and consuming and no stop was
    requested; 503 otherwise: starting, draining after SIGTERM,
    reconnecting, consumer cancelled by the broker.

.. code-block:: python

    from doozer import Application
    from doozer.contrib.prometheus import Prometheus

    app = Application("orders", consumer=consumer, callback=process)
    Prometheus(app)  # http://0.0.0.0:9100/metrics, /livez, /readyz

With several processes (``doozer run --processes N``) each process listens
on ``PROMETHEUS_PORT`` plus its index (``DOOZER_PROCESS_INDEX``, 0-based):
each has its own metrics and probes.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from doozer import Application, Extension
from doozer.config import read_seconds, read_text

from .__about__ import __version__
from ._health import Health
from ._server import Server, wsgi_app
from ._stats import Stats

__all__ = ["DEFAULT_BUCKETS", "PROCESS_INDEX_ENV", "Prometheus", "__version__"]

#: Upper bounds (seconds) of the duration histograms' buckets, by default.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

#: The environment variable with a process's index among its service's
#: processes (set by ``doozer run --processes N``); added to the port.
PROCESS_INDEX_ENV = "DOOZER_PROCESS_INDEX"


class Prometheus(Extension):
    """Serve ``/metrics``, ``/livez`` and ``/readyz`` for an application.

    Its settings (``PROMETHEUS_*``, read by :meth:`init_app`; numbers may be
    strings, as read from the environment) are in :attr:`SETTINGS_DOCS`, and
    rendered in the configuration reference.

    :param app: the application, or None to call :meth:`init_app` later.
    :raises ValueError: (from :meth:`init_app`) a setting is out of range.
    :raises TypeError: (from :meth:`init_app`) a setting is of the wrong type.
    """

    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = {
        "PROMETHEUS_HOST": "0.0.0.0",
        "PROMETHEUS_PORT": 9100,
        "PROMETHEUS_LIVENESS_TIMEOUT": 2.0,
        "PROMETHEUS_STALL_TIMEOUT": 300.0,
        "PROMETHEUS_BUCKETS": DEFAULT_BUCKETS,
    }
    # What each setting means (reStructuredText), for ``.. doozersettings::``.
    SETTINGS_DOCS: ClassVar[Mapping[str, str]] = {
        "PROMETHEUS_HOST": "The address the HTTP server listens on.",
        "PROMETHEUS_PORT": (
            "The port to listen on; each process of ``doozer run --processes N`` adds its "
            "index. ``0`` takes any free port (see "
            ":attr:`~doozer.contrib.prometheus.Prometheus.port`)."
        ),
        "PROMETHEUS_LIVENESS_TIMEOUT": (
            "Seconds the event loop has to answer ``/livez``; keep it below the probe's own "
            "timeout."
        ),
        "PROMETHEUS_STALL_TIMEOUT": (
            "Seconds without a message starting or finishing, while messages wait for a "
            "worker, before ``/livez`` fails; set it above your slowest message. ``None`` "
            "turns the check off."
        ),
        "PROMETHEUS_BUCKETS": (
            "The upper bounds, in seconds, of the processing duration histograms' buckets "
            "(:data:`~doozer.contrib.prometheus.DEFAULT_BUCKETS`: 0.5 ms to 60 s)."
        ),
    }

    #: Where the hooks go: after the transports' startup (-1000) and before
    #: their teardown ends (+1000), so the listener outlives the drain.
    ORDER = -900
    TEARDOWN_ORDER = 1100
    #: The teardown callback that marks the application not ready runs
    #: before all others.
    FIRST = -(2**31)

    def __init__(self, app: Application | None = None) -> None:
        self._server: Server | None = None
        self._health: Health | None = None
        #: The registry ``/metrics`` serves: this application's metrics, then
        #: prometheus-client's default registry (register your own there).
        self.registry = CollectorRegistry(auto_describe=False)
        super().__init__(app)

    def read_settings(self, app: Application) -> None:
        """Check the ``PROMETHEUS_*`` settings (see :attr:`SETTINGS_DOCS`)."""
        settings = app.settings
        self._host = read_text(settings, "PROMETHEUS_HOST", optional=False)
        self._port = _port(settings["PROMETHEUS_PORT"])
        self._liveness = read_seconds(
            settings, "PROMETHEUS_LIVENESS_TIMEOUT", exclusive=True, parse_text=True
        )
        self._stall = read_seconds(
            settings, "PROMETHEUS_STALL_TIMEOUT", exclusive=True, optional=True, parse_text=True
        )
        self._buckets = _buckets(settings["PROMETHEUS_BUCKETS"])

    def init_app(self, app: Application) -> None:
        """Check the settings and register the hooks on *app*."""
        super().init_app(app)
        stats = Stats(app, self._buckets)
        self.stats = stats
        self._health = Health(app, stats, self._liveness, self._stall)
        self.registry.register(_Collect(stats.collect))
        self.registry.register(_Collect(REGISTRY.collect))
        app.startup(self._start, order=self.ORDER)
        app.teardown(self._tearing_down, order=self.FIRST)
        app.teardown(self._stop, order=self.TEARDOWN_ORDER)
        # A plain function called inline per message: no wrapper (which would
        # take the engine off its fast path) and no coroutine per message.
        app.message_observer(stats.observer(), order=self.ORDER)

    @property
    def port(self) -> int | None:
        """The port the listener is bound to while the application runs, else None."""
        return None if self._server is None else self._server.port

    async def _start(self, app: Application) -> None:
        assert self._health is not None  # init_app ran
        self.stats.run_started()
        self._health.run_started()
        port = self._port
        if port:
            port += _process_index()
        server = Server(self._host, port, wsgi_app(self.registry, self._health))
        server.start()
        self._server = server
        self._health.loop = asyncio.get_running_loop()
        self._health.tearing_down = False
        app.logger.info(
            "Serving /metrics, /livez and /readyz on http://%s:%d", self._host, server.port
        )

    async def _tearing_down(self, app: Application) -> None:
        # The consumer may have ended consumption without a stop being
        # requested: from teardown on, the application is not ready either way.
        assert self._health is not None
        self._health.tearing_down = True

    async def _stop(self, app: Application) -> None:
        server, self._server = self._server, None
        if self._health is not None:
            self._health.loop = None
        if server is not None:
            await asyncio.to_thread(server.stop)
        # No scrape can see it any more: fold this run's reads into the counter.
        self.stats.run_ending()


class _Collect(Collector):
    """A prometheus-client collector around a function that yields metric families."""

    def __init__(self, collect: Any) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        result: Iterator[Metric] = self._collect()
        return result


def _process_index() -> int:
    text = os.environ.get(PROCESS_INDEX_ENV, "0")
    try:
        index = int(text)
    except ValueError:
        index = -1
    if index < 0:
        raise ValueError(f"{PROCESS_INDEX_ENV} must be a whole number >= 0, got {text!r}")
    return index


def _port(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # from the environment
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"PROMETHEUS_PORT must be a port number from 0 to 65535, got {value!r}")
    return value


def _buckets(value: object) -> Sequence[float]:
    problem = f"PROMETHEUS_BUCKETS must be increasing numbers of seconds > 0, got {value!r}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(problem)
    bounds = list(value)
    if not bounds or not all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b < math.inf for b in bounds
    ):
        raise ValueError(problem)
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError(problem)
    return [float(b) for b in bounds]

"""Start the test service in a subprocess and ask its listener over real HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import Process, doozer

ROOT = Path(__file__).resolve().parents[2]


def start(
    messages: list[str],
    workers: int = 1,
    settings: Mapping[str, object] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[Process, int]:
    """``doozer run tests.prometheus.service``; return it and the port it listens on.

    *settings* are ``PROMETHEUS_*`` settings, passed as ``DOOZER_PROMETHEUS_*``
    environment variables (JSON text, as an operator would set them).
    """
    env = {"DOOZER_TEST_MESSAGES": ",".join(messages), "DOOZER_PROMETHEUS_PORT": "0"}
    env.update({f"DOOZER_{name}": str(value) for name, value in (settings or {}).items()})
    env.update(extra_env or {})
    process = doozer("run", "tests.prometheus.service", "-w", str(workers), cwd=ROOT, env=env)
    match = process.wait_for_match(r"^listening (\d+)$", "stdout")
    return process, int(match.group(1))


@contextmanager
def running(
    messages: list[str],
    workers: int = 1,
    settings: Mapping[str, object] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[tuple[Process, int]]:
    """:func:`start`, and kill the service afterwards if the test left it running."""
    process, port = start(messages, workers, settings, extra_env)
    try:
        yield process, port
    finally:
        process.kill()


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, str]:
    """GET http://127.0.0.1:*port* *path*; return the status and the body."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """/metrics, parsed by prometheus-client: sample value by (name, labels)."""
    status, text = get(port, "/metrics")
    assert status == 200, text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sample *name* of the test service with *labels* (plus application, destination)."""
    key = frozenset({"application": "prometheus-test", "destination": "", **labels}.items())
    return samples[(name, key)]

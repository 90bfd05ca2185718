"""The listener's port: in use, per process."""

from __future__ import annotations

import contextlib
import functools
import signal
import socket
import struct
from collections.abc import Iterator

import pytest

from tests.support.processes import doozer, wait_until

from .support import ROOT, get, running

pytestmark = pytest.mark.slow


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port this test listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_in_use_is_one_line_naming_the_setting(busy_port: int) -> None:
    env = {
        "DOOZER_TEST_MESSAGES": "ok",
        "DOOZER_PROMETHEUS_HOST": "127.0.0.1",
        "DOOZER_PROMETHEUS_PORT": str(busy_port),
    }
    process = doozer("run", "tests.prometheus.service", cwd=ROOT, env=env)
    assert process.finish() == 1
    stderr = process.output("stderr")
    last = stderr.splitlines()[-1]
    assert last == (
        "doozer: error: the application 'prometheus-test' stopped: OSError: "
        f"PROMETHEUS_PORT {busy_port} is in use on 127.0.0.1: another program (or another "
        "process of this service) listens there; set PROMETHEUS_PORT to a free port"
    )
    assert "socketserver" not in stderr  # no traceback from inside the server
    assert "started ok" not in process.output("stdout")  # nothing was consumed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int) -> int:
    """The first of *count* consecutive free ports of 127.0.0.1."""
    for _ in range(50):
        base = free_port()
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise AssertionError(f"found no {count} consecutive free ports")


def test_each_process_listens_on_the_port_plus_its_index() -> None:
    # The supervisor of `doozer run --processes N` sets DOOZER_PROCESS_INDEX
    # (0-based) in each child.
    expected = free_port()
    env = {"DOOZER_PROMETHEUS_PORT": str(expected - 2), "DOOZER_PROCESS_INDEX": "2"}
    with running(["ok"], extra_env=env) as (process, port):
        assert port == expected
        assert get(port, "/livez")[0] == 200
        process.signal(signal.SIGTERM)
        assert process.finish() == 0


def is_ready(port: int) -> bool:
    return get(port, "/readyz")[0] == 200


def test_doozer_run_processes_serves_one_port_per_process() -> None:
    # The real supervisor: it hands each child its index in DOOZER_PROCESS_INDEX.
    base = free_ports(2)
    env = {
        "DOOZER_TEST_MESSAGES": "ok,ok,ok,ok",
        "DOOZER_PROMETHEUS_HOST": "127.0.0.1",
        "DOOZER_PROMETHEUS_PORT": str(base),
    }
    process = doozer("run", "tests.prometheus.service", "--processes", "2", cwd=ROOT, env=env)
    try:
        first = process.wait_for_match(r"^listening (\d+)$", "stdout", timeout=10)
        second = process.wait_for_match(r"^listening (\d+)$", "stdout", timeout=10, count=2)
        assert {int(first.group(1)), int(second.group(1))} == {base, base + 1}
        for port in (base, base + 1):
            # "listening" is printed during startup: ready once it finished.
            wait_until(functools.partial(is_ready, port), f"port {port} is ready")
            assert get(port, "/readyz") == (200, "ready\n")
        process.signal(signal.SIGTERM)
        assert process.finish() == 0
    finally:
        process.kill()


def test_a_client_that_resets_its_connection_leaves_no_traceback() -> None:
    # A probe that gives up (or a scraper restarting) may reset the connection
    # before its request, or during the answer: the service says nothing.
    with running(["ok"]) as (process, port):
        for request in (b"", b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(request)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # with SO_LINGER 0: a reset, not a goodbye
        assert get(port, "/livez")[0] == 200  # still serving
        process.signal(signal.SIGTERM)
        assert process.finish() == 0
    stderr = process.output("stderr")
    assert "Traceback" not in stderr
    assert "ConnectionResetError" not in stderr

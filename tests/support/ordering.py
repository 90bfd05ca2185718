"""Per-key ordering over a real broker: reading what the service wrote, and the check.

The service is ``tests.support.ordering_service``.
"""

from __future__ import annotations

import signal
from collections import defaultdict
from pathlib import Path

from .processes import Process, wait_until, written_lines

ROOT = Path(__file__).resolve().parents[2]


def read(output: Path) -> list[tuple[str, str, int]]:
    """The (event, key, sequence) lines the service wrote."""
    return [
        (event, name, int(sequence))
        for event, name, sequence in (line.split() for line in written_lines(output))
    ]


def disorder(lines: list[tuple[str, str, int]]) -> dict[str, list[str]]:
    """Per key, what breaks "one at a time, in order" (an empty dict: all ordered)."""
    problems: dict[str, list[str]] = defaultdict(list)
    running: dict[str, int | None] = defaultdict(lambda: None)
    expected: dict[str, int] = defaultdict(int)
    for event, name, sequence in lines:
        if event == "start":
            if running[name] is not None:
                problems[name].append(f"{sequence} started while {running[name]} ran")
            if sequence != expected[name]:
                problems[name].append(f"{sequence} started when {expected[name]} was next")
            running[name] = sequence
        else:
            running[name] = None
            expected[name] = sequence + 1
    return {name: found for name, found in problems.items() if found}


def most_at_once(lines: list[tuple[str, str, int]]) -> int:
    """How many messages (of any keys) ran at the same time, at most."""
    running = most = 0
    for event, _, _ in lines:
        running += 1 if event == "start" else -1
        most = max(most, running)
    return most


def run_service(
    transport: str, url: str, source: str, output: Path, total: int, *, ordered: bool = True
) -> list[tuple[str, str, int]]:
    """Run the ordering service (8 workers) until it ended *total* messages; return its lines.

    The messages must be on *source* already (or published by the time it consumes).
    """
    option = ["--ordering-key", "tests.support.ordering_service:key"] if ordered else []
    service = Process(
        ["-m", "doozer", "run", "-w", "8", *option, "tests.support.ordering_service:make"],
        cwd=ROOT,
        env={
            "DOOZER_TEST_TRANSPORT": transport,
            "DOOZER_TEST_URL": url,
            "DOOZER_TEST_SOURCE": source,
            "DOOZER_TEST_OUTPUT": str(output),
        },
    )
    try:
        wait_until(
            lambda: sum(event == "end" for event, _, _ in read(output)) == total,
            "every message is processed",
            timeout=60,
        )
        service.signal(signal.SIGTERM)
        assert service.finish() == 0, service.output("stderr")
    finally:
        service.kill()
    return read(output)


def interleaved(keys: int = 10, per_key: int = 40) -> list[bytes]:
    """``account-K:SEQUENCE`` bodies, the keys' messages interleaved."""
    return [f"account-{key}:{seq}".encode() for seq in range(per_key) for key in range(keys)]

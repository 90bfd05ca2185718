"""How big each scenario is: the full suite, the smoke run, and Henson's bounds."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Sizes:
    """Message counts, worker counts and repetitions of every scenario."""

    repetitions: int = 5
    throughput_messages: int = 200_000
    throughput_workers: tuple[int, ...] = (1, 10, 100)
    latency_messages: int = 2_000
    latency_workers: int = 4
    latency_interval: float = 0.002  # seconds between two messages from the consumer
    concurrency_messages: int = 20_000
    concurrency_workers: int = 100
    concurrency_sleep: float = 0.01  # seconds the callback awaits
    memory_messages: int = 1_000_000
    memory_warmup: int = 100_000  # growth is measured after this many messages
    memory_payload: int = 1024  # bytes per message
    memory_workers: int = 10
    startup_repetitions: int = 7

    def smoke(self) -> Sizes:
        """A few thousand messages: seconds, not minutes; numbers mean nothing."""
        return replace(
            self,
            repetitions=1,
            throughput_messages=3_000,
            throughput_workers=(1, 10),
            latency_messages=50,
            concurrency_messages=500,
            memory_messages=3_000,
            memory_warmup=1_000,
            startup_repetitions=1,
        )


FULL = Sizes()

# Henson 2.2.0 polls its queue every 0.1 s: about 10 messages/s per worker
# whatever the load.  Its runs are bounded to a few seconds each, so the suite
# finishes in minutes; every table and plot labels these smaller counts.
HENSON_MESSAGES_PER_WORKER = 20  # throughput: about 2 s per run
HENSON_LATENCY_MESSAGES = 100
HENSON_CONCURRENCY_MESSAGES = 2_000
HENSON_MEMORY_MESSAGES = 500


def bounded(implementation: str, messages: int, henson_limit: int) -> int:
    """The message count for *implementation*: *henson_limit* at most for Henson."""
    return min(messages, henson_limit) if implementation == "henson" else messages

"""Memory: what a long run leaves behind, each run in a fresh process.

The parent calls :func:`measure`; it starts ``python -m benchmarks.memory``,
which runs one implementation and prints what it measured as JSON.

Two figures are taken after the warm-up and at the end of the run:

- the resident set size (RSS), which the kernel counts in whole 4 KiB pages:
  a growth of 0 means less than a page, not "not measured";
- the number of memory blocks Python's small-object allocator holds
  (:func:`sys.getallocatedblocks`): one block per live small object, so a
  leak of a few objects per message shows up here long before RSS moves;

``--retain N`` keeps every Nth message alive: the leak control, which shows
that a real leak would be seen (1 KiB every 100 messages: about 9 MiB over
900,000 messages).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .sizes import HENSON_MEMORY_MESSAGES, Sizes

ROOT = Path(__file__).resolve().parent.parent
CONTROL_RETAIN = 100  # the leak control keeps every 100th message


def resident_bytes() -> int:
    """This process's resident set size now (not its peak)."""
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.Process().memory_info().rss)
    try:  # Linux without psutil
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource  # elsewhere: the peak is the best we have

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # Linux counts KiB


def measure(name: str, sizes: Sizes, retain: int = 0) -> dict[str, Any]:
    """Run *name* in a child process; return its memory after the warm-up and at the end.

    *retain*: keep every *retain*-th message alive (0: none), the leak control.
    """
    messages, warmup = sizes.memory_messages, sizes.memory_warmup
    if name == "henson" and messages > HENSON_MEMORY_MESSAGES:
        # Same proportions, far fewer messages: Henson moves ~100 messages/s.
        warmup = max(1, warmup * HENSON_MEMORY_MESSAGES // messages)
        messages = HENSON_MEMORY_MESSAGES
    arguments = [name, messages, warmup, sizes.memory_payload, sizes.memory_workers]
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *map(str, arguments), f"--retain={retain}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory run of {name} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


class _Sampler:
    """Takes the memory figures when the acknowledgement count reaches a mark."""

    def __init__(self) -> None:
        self.rss: dict[str, int] = {}
        self.blocks: dict[str, int] = {}

    def sample(self, mark: str) -> None:
        gc.collect()  # count what is still reachable, not garbage waiting for a cycle
        self.blocks[mark] = sys.getallocatedblocks()
        self.rss[mark] = resident_bytes()


def _child(
    name: str, messages: int, warmup: int, payload: int, workers: int, retain: int
) -> dict[str, Any]:
    from . import implementations, workload
    from .implementations import Pipeline

    sampler = _Sampler()
    consumer = workload.PayloadConsumer(messages, implementations.abort_class(name), payload)
    acks = workload.Acknowledgements(
        messages,
        on_count={
            warmup: lambda: sampler.sample("warm"),
            messages: lambda: sampler.sample("end"),
        },
    )
    kept: list[Any] = []

    async def keep_some(app: Any, message: Any) -> None:
        if retain and acks.count % retain == 0:
            kept.append(message)  # the deliberate leak of the control run

    pipeline = Pipeline(
        workload.callback, (), [workload.postprocess], [keep_some, acks.acknowledge]
    )
    sampler.sample("start")
    implementations.run(name, consumer, pipeline, workers)
    acks.check(name)
    rss, blocks = sampler.rss, sampler.blocks
    return {
        "messages": messages,
        "warmup": warmup,
        "retain": retain,
        "retained": len(kept),
        "rss_start": rss["start"],
        "rss_warm": rss["warm"],
        "rss_end": rss["end"],
        "growth": rss["end"] - rss["warm"],
        "blocks_warm": blocks["warm"],
        "blocks_end": blocks["end"],
        "blocks_growth": blocks["end"] - blocks["warm"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    for number in ("messages", "warmup", "payload", "workers"):
        parser.add_argument(number, type=int)
    parser.add_argument("--retain", type=int, default=0, help="keep every Nth message alive")
    args = parser.parse_args()
    result = _child(args.name, args.messages, args.warmup, args.payload, args.workers, args.retain)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Memory: resident set growth over a long run, each run in a fresh process.

The parent calls :func:`measure`; it starts ``python -m benchmarks.memory``,
which runs one implementation and prints what it measured as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .sizes import HENSON_MEMORY_MESSAGES, Sizes

ROOT = Path(__file__).resolve().parent.parent


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
        return peak if sys.platform == "darwin" else peak * 1024


def measure(name: str, sizes: Sizes) -> dict[str, Any]:
    """Run *name* in a child process; return its RSS after the warm-up and at the end."""
    messages, warmup = sizes.memory_messages, sizes.memory_warmup
    if name == "henson" and messages > HENSON_MEMORY_MESSAGES:
        # Same proportions, far fewer messages: Henson moves ~100 messages/s.
        warmup = max(1, warmup * HENSON_MEMORY_MESSAGES // messages)
        messages = HENSON_MEMORY_MESSAGES
    arguments = [name, messages, warmup, sizes.memory_payload, sizes.memory_workers]
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *map(str, arguments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory run of {name} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def _child(name: str, messages: int, warmup: int, payload: int, workers: int) -> dict[str, Any]:
    from . import implementations, workload
    from .implementations import Pipeline

    samples: dict[str, int] = {}
    consumer = workload.PayloadConsumer(messages, implementations.abort_class(name), payload)
    acks = workload.Acknowledgements(
        messages,
        on_count={
            warmup: lambda: samples.__setitem__("warm", resident_bytes()),
            messages: lambda: samples.__setitem__("end", resident_bytes()),
        },
    )
    pipeline = Pipeline(workload.callback, (), [workload.postprocess], [acks.acknowledge])
    start = resident_bytes()
    implementations.run(name, consumer, pipeline, workers)
    acks.check(name)
    return {
        "messages": messages,
        "warmup": warmup,
        "rss_start": start,
        "rss_warm": samples["warm"],
        "rss_end": samples["end"],
        "growth": samples["end"] - samples["warm"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    for number in ("messages", "warmup", "payload", "workers"):
        parser.add_argument(number, type=int)
    args = parser.parse_args()
    result = _child(args.name, args.messages, args.warmup, args.payload, args.workers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

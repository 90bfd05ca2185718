"""``python -m benchmarks.observability_otel``: throughput with tracing and JSON logs vs without.

Three variants, interleaved, of two scenarios:

* ``without``: Doozer alone;
* ``tracing``: :class:`doozer.contrib.otel.OpenTelemetry` with the SDK's tracer
  provider, every span sampled and ended into a span processor that drops it
  (the export itself is not measured), and the SDK's meter provider;
* ``json logs``: :class:`doozer.contrib.logging.Logging` in JSON mode at INFO
  (stdout to /dev/null): the message context is bound per message, Doozer's
  own records are written, the callback logs nothing.

Scenarios: ``redis``, a real Redis Streams consumer (10 workers) draining a
stream of entries filled beforehand, each acknowledged: what a service pays;
``instant``, the main suite's in-memory instant consumer (1 worker), where a
message costs about 4 µs and any per-message work shows at its worst.
Figures are messages per second of CPU time of this process from the first
read to the last acknowledgement (steadier than wall time on a shared
machine). Targets (on ``redis``): tracing >= 0.85 x, JSON logs >= 0.9 x.
Writes ``results/otel-logging.md``. Needs the local Redis (127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

import doozer
from doozer.contrib.logging import Logging
from doozer.contrib.logging._configure import restore
from doozer.contrib.otel import OpenTelemetry

from . import workload
from .implementations import loop_kind, new_loop
from .stats import median

RESULTS = Path(__file__).parent / "results" / "otel-logging.md"
REDIS_URL = os.environ.get("DOOZER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
VARIANTS = ("without", "tracing", "json logs")
TARGETS = {"tracing": 0.85, "json logs": 0.9}


class Dropping(SpanProcessor):
    """Ends every span into nothing: tracing is on, exporting is not measured."""


def instrument(app: doozer.Application, variant: str) -> None:
    if variant == "tracing":
        OpenTelemetry(
            app,
            tracer_provider=_tracer_provider(),
            meter_provider=MeterProvider(),
        )
    elif variant == "json logs":
        app.settings.update(LOG_FORMAT="json", LOG_LEVEL="INFO")
        Logging(app)


def _tracer_provider() -> TracerProvider:
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(Dropping())
    return provider


def instant(variant: str, messages: int) -> float:
    consumer = workload.InstantConsumer(messages, doozer.Abort)
    acks = workload.Acknowledgements(messages)
    app = doozer.Application("bench", consumer=consumer, callback=workload.callback)
    app.result_postprocessor(workload.postprocess)
    app.message_acknowledgement(acks.acknowledge)
    instrument(app, variant)
    run(app, 1)
    acks.check(f"Doozer {variant}")
    return messages / (acks.finished_cpu - consumer.started_cpu)


def redis(variant: str, messages: int) -> float:
    import redis as redis_py

    from doozer.redis import RedisStreams

    stream = f"doozer-bench-otel-{uuid.uuid4().hex[:8]}"
    client: Any = redis_py.Redis.from_url(REDIS_URL)
    try:
        pipe = client.pipeline(transaction=False)
        for n in range(messages):
            pipe.xadd(stream, {"body": str(n)})
        pipe.execute()
        done = 0
        first: list[float] = []
        last = 0.0

        async def callback(app: doozer.Application, message: Any) -> None:
            if not first:
                first.append(time.process_time())

        async def acknowledge(app: doozer.Application, message: Any) -> None:
            nonlocal done, last
            done += 1
            if done == messages:
                last = time.process_time()
                app.stop()

        app = doozer.Application(
            "bench", {"REDIS_URL": REDIS_URL, "REDIS_INBOUND_STREAM": stream}, callback=callback
        )
        app.consumer = RedisStreams(app).consumer()
        app.message_acknowledgement(acknowledge)
        instrument(app, variant)
        run(app, 10)
        assert done == messages, f"{variant}: {done} of {messages} acknowledged"
        return messages / (last - first[0])
    finally:
        client.delete(stream, f"{stream}.dead", f"{stream}.retry")
        client.close()


def run(app: doozer.Application, workers: int) -> None:
    gc.collect()
    loop = new_loop()
    stdout = sys.stdout
    try:
        with open(os.devnull, "w") as sink:
            sys.stdout = sink  # JSON logs go to stdout: not to the terminal
            try:
                app.run_forever(num_workers=workers, loop=loop)
            finally:
                sys.stdout = stdout
                restore()
    finally:
        loop.close()


SCENARIOS: dict[str, Callable[[str, int], float]] = {"redis": redis, "instant": instant}


def measure(
    scenarios: Sequence[str], messages: dict[str, int], repetitions: int
) -> list[dict[str, Any]]:
    rows = []
    for scenario in scenarios:
        bench = SCENARIOS[scenario]
        rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for variant in VARIANTS:
            bench(variant, min(messages[scenario], 2000))  # warm up imports and caches
        for _ in range(repetitions):
            for variant in VARIANTS:  # interleaved: a noisy moment hits them all
                rates[variant].append(bench(variant, messages[scenario]))
        row: dict[str, Any] = {"scenario": scenario, "messages": messages[scenario]}
        row.update({variant: median(rates[variant]) for variant in VARIANTS})
        rows.append(row)
        print(scenario, {v: f"{row[v]:,.0f}" for v in VARIANTS}, flush=True)
    return rows


def table(rows: list[dict[str, Any]], repetitions: int) -> str:
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    lines = [
        "# Observability overhead: OpenTelemetry(app) and Logging(app)",
        "",
        f"{now} · Python {platform.python_version()} · loop {loop_kind()} · "
        f"medians of {repetitions} interleaved runs · messages per CPU second of this process",
        "",
        "Tracing: the SDK's tracer provider, every span sampled, spans dropped at the end "
        "(no exporter cost); metrics to the SDK's meter provider. JSON logs: LOG_FORMAT json "
        "at INFO to /dev/null, the message context bound per message, the callback logs "
        "nothing. `redis`: a real Redis Streams consumer, 10 workers, each entry acknowledged "
        "(the targets apply here). `instant`: the in-memory instant consumer of the main "
        "suite, 1 worker, ~4 µs per message: the worst case, shown for scale.",
        "",
        "| Scenario | Messages | Without | Tracing | Tracing ÷ without | JSON logs "
        "| JSON logs ÷ without | Targets | Result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        tracing = row["tracing"] / row["without"]
        logs = row["json logs"] / row["without"]
        if row["scenario"] == "redis":
            ok = tracing >= TARGETS["tracing"] and logs >= TARGETS["json logs"]
            verdict = "PASS" if ok else "FAIL"
            targets = ">= 0.85 x, >= 0.9 x"
        else:
            verdict, targets = "(for scale)", "none"
        lines.append(
            f"| {row['scenario']} | {row['messages']:,} | {row['without']:,.0f} "
            f"| {row['tracing']:,.0f} | {tracing:.2f} | {row['json logs']:,.0f} | {logs:.2f} "
            f"| {targets} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.observability_otel")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--redis-messages", type=int, default=20_000)
    parser.add_argument("--instant-messages", type=int, default=100_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    messages = {"redis": args.redis_messages, "instant": args.instant_messages}
    rows = measure(args.scenarios, messages, args.repetitions)
    text = table(rows, args.repetitions)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

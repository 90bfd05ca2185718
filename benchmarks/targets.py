"""Issue 7's targets for Doozer, checked against a results dictionary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    """One target: a value pulled out of the results, a limit, and a direction."""

    key: str
    description: str
    limit: float
    at_least: bool  # True: value >= limit passes; False: value <= limit passes

    def value(self, results: dict[str, Any]) -> float | None:
        """The measured value, or None when its scenario was not run."""
        try:
            return float(_VALUES[self.key](results))
        except KeyError:
            return None

    def passed(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit


def _throughput_ratio(workers: str) -> Any:
    def ratio(results: dict[str, Any]) -> float:
        runs = results["throughput"][workers]
        return float(runs["doozer"]["rate"] / runs["baseline"]["rate"])

    return ratio


_VALUES = {
    "throughput-1": _throughput_ratio("1"),
    "throughput-10": _throughput_ratio("10"),
    "latency-p99": lambda results: results["latency"]["doozer"]["p99"],
    "concurrency": lambda results: results["concurrency"]["doozer"]["of_ideal"],
    "memory": lambda results: results["memory"]["doozer"]["growth"],
    # Issue 7's target is on ``import doozer`` alone (the framework, not asyncio).
    "import": lambda results: results["startup"]["framework"]["doozer"]["seconds"],
}

TARGETS = (
    Target("throughput-1", ">= 0.9 x baseline", 0.9, at_least=True),
    Target("throughput-10", ">= 0.9 x baseline", 0.9, at_least=True),
    Target("latency-p99", "p99 <= 0.5 ms", 0.0005, at_least=False),
    Target("concurrency", ">= 0.95 x ideal", 0.95, at_least=True),
    Target("memory", "<= 10 MiB", 10 * MIB, at_least=False),
    Target("import", "import doozer <= 30 ms", 0.030, at_least=False),
)


def check(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {"value", "limit", "description", "passed"}}`` for every target measured."""
    checked = {}
    for target in TARGETS:
        value = target.value(results)
        if value is not None:
            checked[target.key] = {
                "description": target.description,
                "value": value,
                "limit": target.limit,
                "passed": target.passed(value),
            }
    return checked

"""Test Doozer applications without a broker.

:class:`MemoryQueue` is an in-memory transport, faithful to the real ones:
its messages are deliveries (:class:`~doozer.types.Delivery`), acknowledged,
retried after a delay, dead-lettered or returned according to each
message's :class:`~doozer.outcomes.Outcome`, and every message keeps a
:class:`Record` of what happened to it. :func:`run_until_drained` (or
``await`` :func:`serve_until_drained`) runs an application over one until
the input is drained::

    from doozer.outcomes import SUCCEEDED, Failed
    from doozer.testing import run_until_drained

    from myservice import app

    def test_rejects_bad_orders():
        report = run_until_drained(app, [b'{"qty": 1}', b"not json"])
        assert report.outcomes[0] == SUCCEEDED
        assert isinstance(report.outcomes[1], Failed)
        assert report.records[1].kinds() == [
            "published", "delivered", "dead_lettered"
        ]

It needs nothing but the standard library.
"""

from __future__ import annotations

from ._clock import Clock, RealClock, VirtualClock
from ._memory import Event, MemoryDelivery, MemoryQueue, Record
from ._run import Report, run_until_drained, serve_until_drained

__all__ = [
    "Clock",
    "Event",
    "MemoryDelivery",
    "MemoryQueue",
    "RealClock",
    "Record",
    "Report",
    "VirtualClock",
    "run_until_drained",
    "serve_until_drained",
]

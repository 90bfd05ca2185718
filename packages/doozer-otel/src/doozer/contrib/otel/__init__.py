"""OpenTelemetry traces and metrics for Doozer applications.

``OpenTelemetry(app)`` traces each message with a ``CONSUMER`` span whose
parent comes from the message's W3C trace headers, each publish with a
``PRODUCER`` span whose context goes into the published message's headers,
and records the messaging metrics, following the OpenTelemetry messaging
semantic conventions (see :doc:`/otel`). It needs only opentelemetry-api:
configure the SDK (or a distro) to export what it makes.
"""

from __future__ import annotations

from ._extension import (
    MESSAGE_WRAPPER_ORDER,
    PUBLISH_WRAPPER_ORDER,
    UNFINISHED,
    OpenTelemetry,
)

__all__ = ["MESSAGE_WRAPPER_ORDER", "PUBLISH_WRAPPER_ORDER", "UNFINISHED", "OpenTelemetry"]

"""The :class:`OpenTelemetry` extension: spans around messages and publishes, and metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from doozer import Extension
from doozer.outcomes import SUCCEEDED, Aborted, Outcome, RetryLater, Unfinished

from .__about__ import __version__
from ._conventions import (
    CONSUMER_GROUP,
    DESTINATION,
    ERROR_TYPE,
    METRIC_ATTRIBUTES,
    OPERATION_NAME,
    OPERATION_TYPE,
    SERVER_ADDRESS,
    SERVER_PORT,
    SYSTEM,
    HeaderGetter,
    HeaderSetter,
    error_type,
    span_name,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.trace import Span, TracerProvider

    from doozer import Application

__all__ = [
    "MESSAGE_WRAPPER_ORDER",
    "PUBLISH_WRAPPER_ORDER",
    "UNFINISHED",
    "OpenTelemetry",
]

T = TypeVar("T")

#: Where the consumer span opens among the message wrappers: outermost, so
#: whatever the other wrappers (metrics, logging context) do happens inside it.
MESSAGE_WRAPPER_ORDER = -1000
#: Where the producer span opens among the publish wrappers: outermost too.
PUBLISH_WRAPPER_ORDER = -1000
#: The ``error.type`` of a message that a stop left unfinished without an exception.
UNFINISHED = "doozer.unfinished"
#: Histogram buckets (seconds) the conventions advise for messaging durations.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
#: The ``messaging.system`` of each Doozer transport, by its key in ``app.extensions``.
TRANSPORT_SYSTEMS = {"amqp": "rabbitmq", "redisstreams": "redis", "jetstream": "nats"}

_GETTER = HeaderGetter()
_SETTER = HeaderSetter()
_PROCESS = {OPERATION_NAME: "process", OPERATION_TYPE: "process"}
_SEND = {OPERATION_NAME: "send", OPERATION_TYPE: "send"}
_NOTHING: Mapping[str, Any] = {}


class OpenTelemetry(Extension):
    """Traces every message and every publish, and measures processing.

    Registers a message wrapper (order -1000: outermost) that makes a
    ``CONSUMER`` span, ``process {destination}``, current while the message's
    preprocessors, callback, postprocessors and acknowledgement callbacks
    run; its parent is the context in the message's W3C ``traceparent`` and
    ``tracestate`` headers. Registers a publish wrapper (order -1000) that
    makes a ``PRODUCER`` span, ``send {destination}``, around each message a
    Doozer transport publishes for the application and injects its context
    into the message's headers. Registers a message observer that records
    ``messaging.process.duration`` and ``messaging.client.consumed.messages``.
    Attributes follow the OpenTelemetry messaging semantic conventions, from
    the delivery's ``messaging_attributes`` (see :doc:`/otel`).

    :param app: the application to initialize, if known yet.

    Keyword arguments: ``tracer_provider``, where spans go, and
    ``meter_provider``, where metrics go (default: the global ones);
    ``propagator``, how context travels in headers (default: the global one,
    W3C trace context and baggage unless configured otherwise).
    """

    ONE_PER_APP: ClassVar[bool] = True

    def __init__(
        self,
        app: Application | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        self.tracer = trace.get_tracer("doozer.contrib.otel", __version__, tracer_provider)
        meter = metrics.get_meter("doozer.contrib.otel", __version__, meter_provider)
        #: ``messaging.process.duration``: seconds from a worker taking a message to its settlement.
        self.process_duration = meter.create_histogram(
            "messaging.process.duration",
            unit="s",
            description="Duration of processing operation.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        # Messages counted here, by metric attribute set, and reported when a
        # reader collects: a dict increment per message instead of the SDK's
        # synchronous Counter.add (about 6 µs with a periodic reader).
        self._consumed: dict[tuple[Any, ...], int] = {}
        self._metric_attributes: dict[tuple[Any, ...], dict[str, Any]] = {}
        #: ``messaging.client.consumed.messages``: messages delivered to the
        #: application (an asynchronous counter, cumulative, observed at collection).
        self.consumed_messages = meter.create_observable_counter(
            "messaging.client.consumed.messages",
            callbacks=[self._observe_consumed],
            unit="{message}",
            description="Number of messages that were delivered to the application.",
        )
        self._propagator = propagator
        self._fields: tuple[TextMapPropagator | None, frozenset[str]] = (None, frozenset())
        self._span_names: dict[Any, str] = {}
        self._system: str | None = None
        super().__init__(app)

    def init_app(self, app: Application) -> None:
        """Register the wrappers and the observer on *app*.

        :raises RuntimeError: if this instance, or another OpenTelemetry
            extension, already initialized an application.
        """
        super().init_app(app)
        app.message_wrapper(self._trace_message, order=MESSAGE_WRAPPER_ORDER)
        app.publish_wrapper(self._trace_publish, order=PUBLISH_WRAPPER_ORDER)
        app.message_observer(self._measure)

    def _current_propagator(self) -> TextMapPropagator:
        # The global one is looked up each time: a program may set it after init.
        return self._propagator or propagate.get_global_textmap()

    def _parent_of(self, headers: Any) -> otel_context.Context | None:
        """The context that *headers* carry, or None when they carry none.

        Extraction is skipped (it costs a few µs) unless a header the
        propagator reads is there; a propagator that names no fields is
        always asked.
        """
        if not headers or not isinstance(headers, Mapping):
            return None
        propagator = self._current_propagator()
        known, fields = self._fields
        if known is not propagator:
            fields = frozenset(propagator.fields)
            self._fields = (propagator, fields)
        if fields and not any(field in headers for field in fields):
            return None
        return propagator.extract(headers, getter=_GETTER)

    def _span_name(self, operation: str, destination: Any) -> str:
        # Names are made once per destination (few), not once per message.
        key = (operation, destination)
        name = self._span_names.get(key)
        if name is None:
            name = span_name(operation, destination)
            if len(self._span_names) < 1000:  # bounded, whatever the destinations
                self._span_names[key] = name
        return name

    # -- consuming ----------------------------------------------------------

    async def _trace_message(
        self, app: Application, message: Any, process: Callable[[], Awaitable[Outcome]]
    ) -> Outcome:
        described: Mapping[str, Any] = getattr(message, "messaging_attributes", None) or _NOTHING
        parent = self._parent_of(getattr(message, "headers", None))
        attributes = {**described, **_PROCESS}
        attempt = getattr(message, "attempt", None)
        if isinstance(attempt, int):
            attributes["doozer.message.attempt"] = attempt
        span = self.tracer.start_span(
            self._span_name("process", described.get(DESTINATION)),
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            outcome = await process()
        except BaseException as exc:  # cancelled by a forced stop, or a broken wrapper
            _fail(span, exc)
            span.end()
            raise
        finally:
            otel_context.detach(token)
        _conclude(span, outcome)
        span.end()
        return outcome

    # -- publishing ---------------------------------------------------------

    async def _trace_publish(
        self,
        app: Application,
        destination: str,
        headers: MutableMapping[str, Any],
        publish: Callable[[], Awaitable[T]],
    ) -> T:
        # Inside a message's span the publish is its child. Outside one (a
        # transport dead-lettering or retrying at settlement, after the span
        # ended) the message carries its own context: continue that trace.
        if trace.get_current_span().get_span_context().is_valid:
            parent = None
        else:
            parent = self._parent_of(headers)
        attributes: dict[str, Any] = {DESTINATION: destination, **_SEND}
        system = self._messaging_system(app)
        if system is not None:
            attributes[SYSTEM] = system
        span = self.tracer.start_span(
            self._span_name("send", destination),
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        current = trace.set_span_in_context(span, parent)
        self._current_propagator().inject(headers, context=current, setter=_SETTER)
        token = otel_context.attach(current)
        try:
            return await publish()
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            otel_context.detach(token)
            span.end()

    def _messaging_system(self, app: Application) -> str | None:
        # The publish wrapper is not told which transport publishes: with one
        # transport extension on the application, it is that one.
        if self._system is None:
            systems = {TRANSPORT_SYSTEMS[k] for k in app.extensions if k in TRANSPORT_SYSTEMS}
            self._system = systems.pop() if len(systems) == 1 else ""
        return self._system or None

    # -- measuring ----------------------------------------------------------

    def _measure(self, app: Application, original: Any, outcome: Outcome, duration: float) -> None:
        described: Mapping[str, Any] = getattr(original, "messaging_attributes", None) or _NOTHING
        failure = None if outcome is SUCCEEDED else _error_type(outcome)
        key = (
            described.get(SYSTEM),
            described.get(DESTINATION),
            described.get(CONSUMER_GROUP),
            described.get(SERVER_ADDRESS),
            described.get(SERVER_PORT),
            failure,
        )
        attributes = self._metric_attributes.get(key)
        if attributes is None:  # the first message of this series: a few per application
            attributes = {k: described[k] for k in METRIC_ATTRIBUTES if k in described}
            attributes[OPERATION_NAME] = "process"
            if failure is not None:
                attributes[ERROR_TYPE] = failure
            self._metric_attributes[key] = attributes
        self._consumed[key] = self._consumed.get(key, 0) + 1
        if duration or not isinstance(outcome, Unfinished):  # 0: handed back unstarted
            self.process_duration.record(duration, attributes)

    def _observe_consumed(self, options: CallbackOptions) -> Iterable[Observation]:
        # Called by a metric reader, possibly on its own thread: tuple() copies
        # the counts at once (no iteration while the event loop adds a series).
        counts = tuple(self._consumed.items())
        return [Observation(count, self._metric_attributes[key]) for key, count in counts]


def _error_type(outcome: Outcome) -> str | None:
    exception = getattr(outcome, "exception", None)
    if exception is not None:
        return error_type(exception)
    return UNFINISHED if isinstance(outcome, Unfinished) else None


def _conclude(span: Span, outcome: Outcome) -> None:
    """Record *outcome* on *span*: failures of any kind get the error status.

    A success adds nothing (an attribute costs the SDK about 1 µs a message):
    a span without ``doozer.outcome`` succeeded, as one without ``error.type``
    did not fail.
    """
    if outcome is SUCCEEDED:
        return
    span.set_attribute("doozer.outcome", outcome.name)
    if isinstance(outcome, Aborted):  # skipped on purpose: not an error
        span.set_attribute("doozer.abort.reason", str(outcome.reason))
        return
    if isinstance(outcome, RetryLater):
        span.set_attribute("doozer.retry.delay", float(outcome.delay))
        span.set_attribute("doozer.retry.attempt", outcome.attempt)
    exception = getattr(outcome, "exception", None)
    if exception is not None:
        _fail(span, exception)
    elif isinstance(outcome, Unfinished):
        span.set_attribute(ERROR_TYPE, UNFINISHED)
        span.set_status(Status(StatusCode.ERROR, outcome.reason))


def _fail(span: Span, exception: BaseException) -> None:
    span.record_exception(exception)
    span.set_attribute(ERROR_TYPE, error_type(exception))
    span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}: {exception}"))

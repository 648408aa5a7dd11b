"""OpenTelemetry traces across the HTTP and Kafka hops, exported by OTLP when configured.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: then
every hook below is one test of a module global, and nothing is imported from the SDK.

On, a trace follows one business flow through the services:

- an HTTP request gets a server span (FastAPI's instrumentation; a caller's `traceparent`
  header continues the caller's trace);
- the outbox row of every event staged while a span is current stores that span's W3C
  `traceparent` (`outbox.staging`), and the relay writes it into the record's headers, so the
  trace continues from the request or the event that caused the row, however late the relay
  publishes it;
- the consumer opens one `process` span per event it applies, child of the record's
  `traceparent`, and the events its handlers emit (those whose `causationid` is that event)
  carry that span's context on.

Log lines written while a span is current carry `trace_id` and `span_id` beside the
correlation id (`add_trace_ids`), so a trace and its logs find each other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord
    from fastapi import FastAPI

    from contracts import CloudEvent

TRACEPARENT = "traceparent"
# Probes and scrapes every few seconds would drown the traces that matter.
_UNTRACED_URLS = "healthz,readyz,metrics,stats"

_propagator = TraceContextTextMapPropagator()


class _Tracing:
    provider: Any = None  # the SDK's TracerProvider while tracing is on
    tracer: trace.Tracer | None = None


_on = _Tracing()


def configure(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on for this process when an OTLP endpoint is configured; say whether it is.

    The exporter reads the standard `OTEL_EXPORTER_OTLP_*` variables (headers, timeout,
    compression) and the batch processor the `OTEL_BSP_*` ones.
    """
    endpoint = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if not endpoint or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({
        "service.name": env.get("OTEL_SERVICE_NAME") or service,
        "service.namespace": "thidua",
    }))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use(provider)
    return True


def use(provider: Any) -> None:
    """Trace with this TracerProvider (`configure`, or a test's with an in-memory exporter)."""
    _on.provider, _on.tracer = provider, provider.get_tracer("thidua")


def stop() -> None:
    """Export what is buffered and turn tracing off."""
    if _on.provider is not None:
        _on.provider.shutdown()
    _on.provider = _on.tracer = None


def enabled() -> bool:
    return _on.tracer is not None


def instrument(app: FastAPI) -> None:
    """A server span per HTTP request (none for probes and scrapes)."""
    if _on.tracer is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_on.provider,
                                       excluded_urls=_UNTRACED_URLS)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, for an outbox row; None when tracing is off
    or no span is current."""
    if _on.tracer is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get(TRACEPARENT)


def add_trace_ids(_logger: object, _method: str, event: dict) -> dict:
    """structlog processor: the current span's trace and span ids beside the correlation id."""
    if _on.tracer is not None:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            event["trace_id"] = format(span_context.trace_id, "032x")
            event["span_id"] = format(span_context.span_id, "016x")
    return event


def _record_parent(record: ConsumerRecord) -> otel_context.Context | None:
    for key, value in record.headers or ():
        if key == TRACEPARENT:
            return _propagator.extract({TRACEPARENT: value.decode("ascii", "replace")})
    return None


@contextmanager
def consuming(received: Sequence[Any]) -> Iterator[dict[str, trace.Span]]:
    """One `process` span per applied event (`Received`: record and event), keyed by event id,
    each the child of its record's `traceparent`; ended when the batch's transaction is over,
    marked failed if it raised. Empty, and free, when tracing is off."""
    if _on.tracer is None or not received:
        yield {}
        return
    spans = {}
    for item in received:
        record, event = item.record, item.event
        spans[event.id] = _on.tracer.start_span(
            f"{record.topic} process", context=_record_parent(record), kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka", "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset, "messaging.message.id": event.id,
                "cloudevents.event_type": event.type, "thidua.correlation_id": event.correlationid,
            })
    try:
        yield spans
    except BaseException as exc:
        for span in spans.values():
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        for span in spans.values():
            span.end()


def activate(spans: Mapping[str, trace.Span], event_id: str) -> object | None:
    """Make the event's span current (for its handler's logs and emitted events)."""
    span = spans.get(event_id) if spans else None
    return None if span is None else otel_context.attach(trace.set_span_in_context(span))


def deactivate(token: object | None) -> None:
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


def traceparents_caused_by(events: Sequence[CloudEvent],
                           spans: Mapping[str, trace.Span]) -> list[str | None] | None:
    """Per emitted event, the `traceparent` of the span of the event that caused it."""
    if not spans:
        return None
    parents: dict[str, str | None] = {}
    for event_id, span in spans.items():
        carrier: dict[str, str] = {}
        _propagator.inject(carrier, context=trace.set_span_in_context(span))
        parents[event_id] = carrier.get(TRACEPARENT)
    return [parents.get(e.causationid or "") for e in events]

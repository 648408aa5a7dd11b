"""Tracing hooks: free and silent when off; on, they carry W3C context from span to outbox row
and from a record's header to the spans of the events it causes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime import tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    yield exporter
    tracing.stop()


def received(event_id: str, traceparent: str | None):
    headers = [("content-type", b"application/cloudevents+json")]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    record = ConsumerRecord("thidua.initiatives.v1", 3, 42, 0, 0, b"k", b"{}", None, 0, 2,
                            headers)
    event = SimpleNamespace(id=event_id, type="thidua.initiative.submitted.v1",
                            correlationid="c-1", causationid=None)
    return SimpleNamespace(record=record, event=event)


def test_off_without_an_endpoint_and_nothing_is_traced():
    assert tracing.configure("scoring", env={}) is False
    assert not tracing.enabled()
    assert tracing.current_traceparent() is None
    with tracing.consuming([received("e-1", PARENT)]) as by_event:
        assert by_event == {}
    assert tracing.add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}


def test_a_consumed_event_continues_its_records_trace_into_what_it_causes(spans):
    with tracing.consuming([received("e-1", PARENT), received("e-2", None)]) as by_event:
        caused = [SimpleNamespace(causationid="e-1"), SimpleNamespace(causationid="e-2"),
                  SimpleNamespace(causationid="elsewhere")]
        parents = tracing.traceparents_caused_by(caused, by_event)
        token = tracing.activate(by_event, "e-1")
        line = tracing.add_trace_ids(None, "info", {"event": "x"})
        assert tracing.current_traceparent() == parents[0]
        tracing.deactivate(token)
    first, second = spans.get_finished_spans()
    assert format(first.context.trace_id, "032x") == PARENT.split("-")[1]
    assert format(first.parent.span_id, "016x") == PARENT.split("-")[2]
    assert second.parent is None  # a record without trace context starts a trace
    assert parents[0] == f"00-{PARENT.split('-')[1]}-{first.context.span_id:016x}-01"
    assert parents[1].split("-")[1] == f"{second.context.trace_id:032x}"
    assert parents[2] is None
    assert line["trace_id"] == PARENT.split("-")[1]
    assert first.attributes["messaging.kafka.offset"] == 42


def test_a_failed_batch_marks_its_spans_failed(spans):
    with pytest.raises(RuntimeError), tracing.consuming([received("e-1", PARENT)]):
        raise RuntimeError("handler broke")
    (span,) = spans.get_finished_spans()
    assert not span.status.is_ok


def test_an_unreadable_traceparent_starts_a_fresh_trace(spans):
    with tracing.consuming([received("e-1", "garbage\x00")]):
        pass
    (span,) = spans.get_finished_spans()
    assert span.parent is None

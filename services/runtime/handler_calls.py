"""Calling a registered handler on one run of events (one type, from `runs.runs_by_type`): a batch
handler once with the whole run, a per-event handler once per event; each call with its events
bound to the log context and its trace active, and timed in `HANDLER_DURATION`."""

from __future__ import annotations

import time

from . import metrics, tracing
from .consumer_batch import Received
from .context import Context
from .handlers import Registered, payload_or_event
from .logs import bind_event, bind_events, unbind_event


async def call_handler(registered: Registered, ctx: Context, run: list[Received],
                       spans: dict) -> None:
    timer = metrics.HANDLER_DURATION.labels(registered.event_type)
    if registered.is_batch:
        events = [item.event for item in run]
        bind_events(events, topic=run[0].record.topic)
        # A run of one event is that event's work; a longer one belongs to several traces.
        traced = tracing.activate(spans, events[0].id) if len(events) == 1 else None
        started = time.perf_counter()
        try:
            await registered.fn(ctx, events)
        finally:
            tracing.deactivate(traced)
            unbind_event()
        timer.observe(time.perf_counter() - started)
        return
    for item in run:
        event = item.event
        bind_event(event.id, event.type, event.correlationid, topic=item.record.topic)
        traced = tracing.activate(spans, event.id)
        started = time.perf_counter()
        try:
            await registered.fn(ctx.for_event(event), payload_or_event(registered, event))
        finally:
            tracing.deactivate(traced)
            unbind_event()
        timer.observe(time.perf_counter() - started)

"""Structured logging: JSON lines in production, readable colours in a terminal.

Context (service, correlation id, event id, topic) is carried in contextvars, so every log line
written while an event is handled names the event and the chain of events it belongs to.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from .tracing import add_trace_ids

if TYPE_CHECKING:
    from contracts import CloudEvent

# Enough to grep a burst's flows; a bulk import's thousands would drown the line.
_MAX_CORRELATION_IDS = 50


def configure_logging(service: str, fmt: str = "json", level: str = "INFO") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    json_lines = fmt == "json"
    finish = [structlog.processors.format_exc_info] if json_lines else []
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, *finish, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Looked up per logger, so a replaced sys.stderr (test capture, daemons) is honoured.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (aiokafka, uvicorn, faststream) log through stdlib: render their warnings in the
    # same format, with the same context, so ops parse one kind of line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish,
                        renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)


def library_logger(name: str) -> logging.Logger:
    """A stdlib logger for a library that takes one (FastStream), rendered like ours."""
    return logging.getLogger(f"thidua.{name}")


def bind_event(event_id: str, event_type: str, correlation_id: str, **extra: object) -> None:
    """Bind an event's identity to the current task's log context."""
    structlog.contextvars.bind_contextvars(
        event_id=event_id, event_type=event_type, correlationid=correlation_id, **extra
    )


def bind_events(events: Sequence[CloudEvent], **extra: object) -> None:
    """Bind a run of events handled together: one event as `bind_event` would; several by
    their type, count and (bounded) correlation ids, so each flow can still be grepped."""
    if len(events) == 1:
        event = events[0]
        bind_event(event.id, event.type, event.correlationid, **extra)
        return
    correlation_ids = list(dict.fromkeys(e.correlationid for e in events))
    structlog.contextvars.bind_contextvars(
        event_type=events[0].type, event_count=len(events),
        correlationids=correlation_ids[:_MAX_CORRELATION_IDS],
        **extra,
    )


def unbind_event() -> None:
    structlog.contextvars.unbind_contextvars(
        "event_id", "event_type", "correlationid", "topic", "event_count", "correlationids"
    )

"""Structured logging: JSON lines in production, readable colours in a terminal.

Context (service, correlation id, event id, topic) is carried in contextvars, so every log line
written while an event is handled names the event and the chain of events it belongs to.
"""

from __future__ import annotations

import logging
import sys

import structlog



def configure_logging(service: str, fmt: str = "json", level: str = "INFO") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer]
        if fmt == "json"
        else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (aiokafka, uvicorn, faststream) log through stdlib: keep them quieter and on stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")


def bind_event(event_id: str, event_type: str, correlation_id: str, **extra: object) -> None:
    """Bind an event's identity to the current task's log context."""
    structlog.contextvars.bind_contextvars(
        event_id=event_id, event_type=event_type, correlationid=correlation_id, **extra
    )


def unbind_event() -> None:
    structlog.contextvars.unbind_contextvars("event_id", "event_type", "correlationid", "topic")

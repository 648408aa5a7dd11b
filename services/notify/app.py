"""Composition root of notify: consumes award events, fills members' inboxes, emits outcomes."""

from __future__ import annotations

from pathlib import Path

from contracts.topics import AWARDS
from services.runtime.service import ServiceDefinition

from .api import router
from .handlers import HANDLERS
from .settings import NotifySettings


def definition(settings: NotifySettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="notify",
        settings=settings or NotifySettings.from_env(),
        migrations_dir=Path(__file__).parent / "migrations",
        consumes=[AWARDS],
        handlers=HANDLERS,
        routers=[router],
    )

"""Composition root of notify: consumes award events, fills members' inboxes, emits outcomes."""

from __future__ import annotations

from pathlib import Path

from services.runtime.service import ServiceDefinition

from .api import router
from .email_channel import run_email_sender
from .handlers import handlers
from .repository import NotifyRepository
from .settings import NotifySettings
from .webhook_api import router as webhook_router
from .webhook_channel import run_webhook_sender


def definition(settings: NotifySettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="notify",
        settings=settings or NotifySettings.from_env(),
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=handlers,
        repository=NotifyRepository,
        routers=[router, webhook_router],
        workers=[run_email_sender, run_webhook_sender],
    )

"""Composition root of notify: consumes the triggering events, tells members in-app, by e-mail
(now or in a daily digest) and integrators by webhook, and announces each outcome."""

from __future__ import annotations

from pathlib import Path

from services.runtime.service import ServiceDefinition

from .api import router
from .digest import run_digests
from .email_channel import run_email_sender
from .handlers import handlers
from .import_api import router as import_router
from .repository import NotifyRepository
from .retention import run_retention
from .settings import NotifySettings
from .statistics_api import router as statistics_router
from .webhook_api import router as webhook_router
from .webhook_channel import run_webhook_sender


def definition(settings: NotifySettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="notify",
        settings=settings or NotifySettings.from_env(),
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=handlers,
        repository=NotifyRepository,
        routers=[router, import_router, webhook_router, statistics_router],
        workers=[run_email_sender, run_webhook_sender, run_digests, run_retention],
    )

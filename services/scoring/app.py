"""Composition root of scoring: consumes initiatives, keeps scores, emits score changes."""

from __future__ import annotations

from pathlib import Path

from services.runtime.service import ServiceDefinition

from .api import router
from .handlers import handlers
from .repository import ScoringRepository
from .settings import ScoringSettings


def definition(settings: ScoringSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="scoring",
        settings=settings or ScoringSettings.from_env(),
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=handlers,
        repository=ScoringRepository,
        routers=[router],
        rebuild_keeps=("idempotency_keys",),  # what-if answers kept for their retries
    )

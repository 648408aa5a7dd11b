"""Composition root of awards: consumes scores, keeps eligibility, emits its changes."""

from __future__ import annotations

from pathlib import Path

from services.runtime.service import ServiceDefinition

from .api import router
from .decisions_api import router as decisions_router
from .handlers import handlers
from .proposals_api import router as proposals_router
from .records_api import router as records_router
from .repository import AwardsRepository
from .settings import AwardsSettings


def definition(settings: AwardsSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="awards",
        settings=settings or AwardsSettings.from_env(),
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=handlers,
        repository=AwardsRepository,
        routers=[router, proposals_router, decisions_router, records_router],
    )

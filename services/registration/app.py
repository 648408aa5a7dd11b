"""Composition root of registration: the source of truth for commands; it emits them and consumes
only the org events, into the directory every service keeps (added by the runtime)."""

from __future__ import annotations

from pathlib import Path

from services.runtime.service import ServiceDefinition

from .api import router
from .campaign_api import router as campaign_router
from .cluster_api import router as cluster_router
from .emulation_api import router as emulation_router
from .export_api import router as export_router
from .import_api import router as import_router
from .org_api import router as org_router
from .org_queries import router as org_query_router
from .phase_close import router as phase_close_router
from .pledge_api import router as pledge_router
from .settings import RegistrationSettings
from .works_api import router as works_router


def definition(settings: RegistrationSettings | None = None) -> ServiceDefinition:
    settings = settings or RegistrationSettings.from_env()
    return ServiceDefinition(
        name="registration",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[router, org_router, org_query_router, campaign_router,
                 cluster_router, emulation_router, pledge_router, works_router,
                 phase_close_router, import_router, export_router],
        # Import files are the one body larger than a command.
        body_limits={"/imports/": settings.import_max_bytes},
    )

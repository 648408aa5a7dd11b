"""HTTP beside the consumer: FastAPI with the runtime started in its lifespan.

Every service answers `/healthz`, `/readyz`, `/stats` and `/metrics` (`health.py`) to anyone;
its own routers only when its role is not `worker`, each route behind the access rule it
declares (`access.py`: bearer token verified by `tokens.py`, then role and scope). Requests
pass through `HttpEdge` (correlation id, body cap, metrics, last-resort errors), then every
route refuses text PostgreSQL cannot store (`storable_text.py`); failures become problems
(`errors.py`).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import structlog
import uvicorn
from fastapi import Depends, FastAPI

from . import tracing
from .access import check_every_route_declares, document_access
from .directory.routes import router as directory_router
from .errors import install_error_handlers
from .health import health_router
from .http_edge import HttpEdge
from .logs import configure_logging
from .problems import show_problems_as_problem_json
from .service import ServiceDefinition, ServiceRuntime
from .storable_text import refuse_unstorable_text
from .tokens import TokenVerifier

log = structlog.get_logger()


def create_app(definition: ServiceDefinition) -> FastAPI:
    runtime = ServiceRuntime(definition)
    settings = definition.settings
    serves_routes = settings.role != "worker"  # every API serves the directory at least
    tokens = TokenVerifier.from_settings(settings)
    if serves_routes and not tokens.configured:
        raise MissingTokenKeys(
            f"{definition.name} serves authenticated routes but has no keys to verify tokens "
            "with: set AUTH_JWKS_URL (the OpenID Connect issuer's JWKS) or AUTH_JWKS_FILE")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if serves_routes:
            await tokens.start()
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            await tokens.close()

    app = FastAPI(title=f"thidua {definition.name}", lifespan=lifespan,
                  dependencies=[Depends(refuse_unstorable_text)])
    app.state.runtime = runtime
    app.state.tokens = tokens
    app.add_middleware(HttpEdge, max_body_bytes=settings.http_max_body_bytes,
                       body_limits=definition.body_limits)
    install_error_handlers(app)
    app.include_router(health_router(definition.name, runtime))
    if settings.role != "worker":  # a worker process serves health, readiness and metrics only
        for router in (*definition.routers, directory_router):
            app.include_router(router)
    check_every_route_declares(app.routes)
    _document(app)
    tracing.instrument(app)
    return app


class MissingTokenKeys(RuntimeError):
    """An API process started without a key set: it would refuse every request."""


def _document(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_access(app.routes,
                                                 show_problems_as_problem_json(build()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def run(definition: ServiceDefinition) -> None:
    """Run one service in this process until SIGINT/SIGTERM (how ops and `thidua up` run it)."""
    s = definition.settings
    configure_logging(definition.name, s.log_format, s.log_level)
    traced = tracing.configure(definition.name)
    log.info("service_starting", http_port=s.http_port, kafka=s.kafka_bootstrap_servers,
             role=s.role, tracing=traced)
    uvicorn.run(
        create_app(definition),
        host=s.http_host,
        port=s.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    tracing.stop()  # export the spans still buffered

"""HTTP beside the consumer: FastAPI with the runtime started in its lifespan.

Every service answers `/healthz`, `/readyz`, `/stats` and `/metrics` (`health.py`); its own
routers only when its role is not `worker`. Requests pass through `HttpEdge` (correlation id,
body cap, metrics, last-resort errors), then every route refuses text PostgreSQL cannot
store (`storable_text.py`); failures become problems (`errors.py`).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import structlog
import uvicorn
from fastapi import Depends, FastAPI

from .errors import install_error_handlers
from .health import health_router
from .http_edge import HttpEdge
from .logs import configure_logging
from .problems import show_problems_as_problem_json
from .service import ServiceDefinition, ServiceRuntime
from .storable_text import refuse_unstorable_text

log = structlog.get_logger()


def create_app(definition: ServiceDefinition) -> FastAPI:
    runtime = ServiceRuntime(definition)
    settings = definition.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=f"thidua {definition.name}", lifespan=lifespan,
                  dependencies=[Depends(refuse_unstorable_text)])
    app.state.runtime = runtime
    app.add_middleware(HttpEdge, max_body_bytes=settings.http_max_body_bytes)
    install_error_handlers(app)
    app.include_router(health_router(definition.name, runtime))
    if settings.role != "worker":  # a worker process serves health, readiness and metrics only
        for router in definition.routers:
            app.include_router(router)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = show_problems_as_problem_json(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def run(definition: ServiceDefinition) -> None:
    """Run one service in this process until SIGINT/SIGTERM (how ops and `thidua up` run it)."""
    s = definition.settings
    configure_logging(definition.name, s.log_format, s.log_level)
    log.info("service_starting", http_port=s.http_port, kafka=s.kafka_bootstrap_servers,
             role=s.role)
    uvicorn.run(
        create_app(definition),
        host=s.http_host,
        port=s.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )

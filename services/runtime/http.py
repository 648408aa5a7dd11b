"""HTTP beside the consumer: FastAPI with the runtime started in its lifespan.

Every service answers `/healthz` (liveness: the process and its event loop respond) and
`/readyz` (readiness: database, Kafka, relay and consumer all working), and carries the
caller's `X-Correlation-ID` into its logs and the events a request causes.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .errors import install_error_handlers
from .logs import configure_logging
from .service import ServiceDefinition, ServiceRuntime

CORRELATION_HEADER = "X-Correlation-ID"
log = structlog.get_logger()


def create_app(definition: ServiceDefinition) -> FastAPI:
    runtime = ServiceRuntime(definition)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=f"thidua {definition.name}", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.middleware("http")
    async def correlate(request: Request, call_next):
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        request.state.correlation_id = correlation_id
        with structlog.contextvars.bound_contextvars(correlationid=correlation_id):
            response = await call_next(request)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict:
        return {"status": "alive", "service": definition.name}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/stats", tags=["health"])
    async def stats() -> dict:
        return runtime.stats()

    for router in definition.routers:
        app.include_router(router)
    return app


def run(definition: ServiceDefinition) -> None:
    """Run one service in this process until SIGINT/SIGTERM (how ops and `thidua up` run it)."""
    s = definition.settings
    configure_logging(definition.name, s.log_format, s.log_level)
    log.info("service_starting", http_port=s.http_port, kafka=s.kafka_bootstrap_servers)
    uvicorn.run(
        create_app(definition),
        host=s.http_host,
        port=s.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )

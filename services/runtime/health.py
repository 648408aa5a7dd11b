"""What every service answers whatever its role: liveness, readiness, counters and metrics.

None of these need authentication: probes and Prometheus call them. `/stats` is the JSON
form of the relay and consumer counters `/metrics` exposes, with no business data.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from .access import PUBLIC
from .consumer_batch import ConsumerStats
from .relay import RelayStats
from .service import ServiceRuntime


class Liveness(BaseModel):
    status: Literal["alive"]
    service: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="Each dependency (`database`, `kafka`, "
                                               "`outbox_relay`, `consumer`): `ok` or "
                                               "`failing: <reason>`.")


class RuntimeStats(BaseModel):
    # Sections added by the runtime later pass through rather than vanish.
    model_config = ConfigDict(extra="allow")

    relay: RelayStats | None = Field(None, description="Outbox relay counters.")
    consumer: ConsumerStats | None = Field(None, description="Consumer counters, if it consumes.")


def health_router(name: str, runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["health"], dependencies=[Depends(PUBLIC)])

    @router.get("/healthz")
    async def healthz() -> Liveness:
        """Liveness: the process and its event loop answer."""
        return Liveness(status="alive", service=name)

    @router.get("/readyz", responses={503: {"model": Readiness, "description": "Not ready"}})
    async def readyz() -> Readiness:
        """Readiness: 200 when every dependency check is `ok`, else 503 with the failing ones."""
        checks = await runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        answer = Readiness(status="ready" if ready else "not_ready", checks=checks)
        if ready:
            return answer
        return JSONResponse(answer.model_dump(), status_code=503)  # type: ignore[return-value]

    @router.get("/stats")
    async def stats() -> RuntimeStats:
        """Relay and consumer counters of this process."""
        return RuntimeStats.model_validate(runtime.stats())

    @router.get("/metrics", response_class=Response, responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
              "description": "Prometheus text exposition format"}})
    async def metrics() -> Response:
        """Prometheus metrics of this process (the series are listed in the runtime README)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router

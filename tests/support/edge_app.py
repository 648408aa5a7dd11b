"""A service's HTTP edge without its runtime: `create_app` with test routes, nothing started.

httpx's ASGITransport does not run the lifespan, so no pool, broker or relay is needed: what
is under test is what every service's HTTP answers share (problems, limits, metrics, roles).
The test routes are public (access rules have their own tests); the app still verifies tokens
against the test session's issuer, so the directory's routes are served as in production.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import APIRouter, Depends, FastAPI

from services.runtime.access import PUBLIC
from services.runtime.http import create_app
from services.runtime.service import ServiceDefinition
from services.runtime.settings import ServiceSettings
from tests.support.identity import auth_settings


def edge_app(*routers: APIRouter, body_limits: dict[str, int] | None = None,
             **settings) -> FastAPI:
    public = APIRouter(dependencies=[Depends(PUBLIC)])
    for router in routers:
        public.include_router(router)
    definition = ServiceDefinition(
        name="edge",
        settings=ServiceSettings(service_name="edge", **(auth_settings() | settings)),
        migrations_dir=Path(__file__).parent,
        routers=(public,),
        body_limits=body_limits or {},
    )
    return create_app(definition)


def edge_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://edge")

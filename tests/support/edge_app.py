"""A service's HTTP edge without its runtime: `create_app` with test routes, nothing started.

httpx's ASGITransport does not run the lifespan, so no pool, broker or relay is needed: what
is under test is what every service's HTTP answers share (problems, limits, metrics, roles).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from services.runtime.http import create_app
from services.runtime.service import ServiceDefinition
from services.runtime.settings import ServiceSettings


def edge_app(*routers: APIRouter, **settings) -> FastAPI:
    definition = ServiceDefinition(
        name="edge",
        settings=ServiceSettings(service_name="edge", **settings),
        migrations_dir=Path(__file__).parent,
        routers=routers,
    )
    return create_app(definition)


def edge_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://edge")

"""The four services, each with its own runtime, started once per session in this process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.awards.app import definition as awards
from services.awards.settings import AwardsSettings
from services.notify.app import definition as notify
from services.notify.settings import NotifySettings
from services.registration.app import definition as registration
from services.registration.settings import RegistrationSettings
from services.runtime.http import create_app
from services.scoring.app import definition as scoring
from services.scoring.settings import ScoringSettings
from tests.support.runtime import test_settings

SERVICES = {
    "registration": (registration, RegistrationSettings),
    "scoring": (scoring, ScoringSettings),
    "awards": (awards, AwardsSettings),
    "notify": (notify, NotifySettings),
}


@pytest.fixture(scope="session")
async def system(infrastructure):
    apps = {
        name: create_app(define(test_settings(cls, infrastructure, name)))
        for name, (define, cls) in SERVICES.items()
    }
    runtimes = [app.state.runtime for app in apps.values()]
    await asyncio.gather(*(r.start() for r in runtimes))
    yield apps
    await asyncio.gather(*(r.stop() for r in runtimes))


@pytest.fixture(scope="session")
async def clients(system):
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
        for name, app in system.items()
    }
    yield clients
    for client in clients.values():
        await client.aclose()

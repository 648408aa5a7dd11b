"""The four services, each with its own runtime, started once per session in this process.

Their directories hold the demo's tree (`demo_directory.py`), recorded at start through
registration's commands as the city administrator, whose org events fill every projection, and
registration holds the demo's campaign of the year (`DEMO_CAMPAIGN`), which
`DEMO_INITIATIVE` is submitted to;
clients call as the city administrator unless a test sends another token.
"""

from __future__ import annotations

import asyncio
import importlib

import httpx
import pytest

from services.devstack.demo import DEMO_CAMPAIGN
from services.devstack.demo_directory import demo_directory, record_directory
from services.registry import SERVICES
from services.runtime.http import create_app
from tests.support.directory import wait_until_projected
from tests.support.identity import ADMIN
from tests.support.runtime import test_settings
from tests.support.smtp import SmtpServer


def composed(entry):
    """The service's composition root and settings class, found through the registry."""
    define = importlib.import_module(entry.app_module).definition
    return define, getattr(importlib.import_module(entry.settings_module), entry.settings_class)


@pytest.fixture(scope="session")
def smtp():
    """The SMTP relay notify hands its e-mails to."""
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="session")
async def system(infrastructure, smtp):
    apps = {}
    overrides = {"notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                            "email_poll_interval_ms": 100, "email_retry_backoff_s": 0.2}}
    for entry in SERVICES:
        define, settings_cls = composed(entry)
        settings = test_settings(settings_cls, infrastructure, entry.name,
                                 **overrides.get(entry.name, {}))
        apps[entry.name] = create_app(define(settings))
    runtimes = [app.state.runtime for app in apps.values()]
    await asyncio.gather(*(r.start() for r in runtimes))
    tree = demo_directory()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps["registration"]),
                                 base_url="http://registration") as registration:
        await record_directory(registration, ADMIN, tree)
        launched = await registration.post("/campaigns", json=DEMO_CAMPAIGN, headers=ADMIN)
        assert launched.status_code == 201, launched.text
    # Four new consumer groups join and project the tree: 56 s of a loaded run once, and every
    # end-to-end test errors if this fails, so the bound is generous.
    await wait_until_projected([r.directory for r in runtimes], tree, timeout=240)
    yield apps
    await asyncio.gather(*(r.stop() for r in runtimes))


@pytest.fixture(scope="session")
async def clients(system):
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}",
                                headers=ADMIN)
        for name, app in system.items()
    }
    yield clients
    for client in clients.values():
        await client.aclose()


@pytest.fixture(scope="session")
def directory_seeded(system) -> None:
    """For tests that rely on the demo tree by name (the `system` fixture records it)."""

"""Registration against a real PostgreSQL reached through a proxy: a command costs one round
trip (the directory answers its scope checks from its cache), and while the database is
unreachable every request answers 503 with Retry-After."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.devstack.demo import DEMO_CAMPAIGN, DEMO_INITIATIVE
from services.devstack.demo_directory import demo_directory
from services.registration.app import definition
from services.registration.settings import RegistrationSettings
from services.runtime.http import create_app
from tests.support.directory import publish_tree, wait_until_projected
from tests.support.identity import ADMIN
from tests.support.postgres_proxy import PostgresProxy
from tests.support.runtime import test_settings as settings_under_test

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def proxied(infrastructure):
    """Registration whose every database connection goes through a proxy we can count and cut."""
    proxy = PostgresProxy(infrastructure.database_url)
    settings = settings_under_test(RegistrationSettings, infrastructure, "regdb").model_copy(
        update={"database_url": await proxy.start()})
    app = create_app(definition(settings))
    await app.state.runtime.start()
    tree = demo_directory()
    await publish_tree(infrastructure.kafka_bootstrap_servers, tree)
    await wait_until_projected([app.state.runtime.directory], tree)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reg",
                               headers=ADMIN)
    launched = await client.post("/campaigns", json=DEMO_CAMPAIGN)
    assert launched.status_code == 201, launched.text
    yield proxy, client, f"thidua-{settings.db_schema}"
    await client.aclose()
    await app.state.runtime.stop()
    await proxy.stop()


def submission() -> dict:
    """The demo's initiative by an author of its own, so the demo member's eligibility (which
    `thidua up --demo` checks on the same broker) is left alone."""
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": f"m-{uuid.uuid4().hex[:10]}"}
    return DEMO_INITIATIVE | {"initiative_id": f"ini-{uuid.uuid4().hex[:12]}", "authors": [author]}


async def round_trips_of(proxy, pool_name, request) -> int:
    before = proxy.round_trips[pool_name]
    answer = await request()
    assert answer.is_success, answer.text
    return proxy.round_trips[pool_name] - before


async def test_a_command_is_one_round_trip_to_postgresql(proxied):
    proxy, client, pool = proxied
    await client.post("/initiatives", json=submission())  # statements prepared and cached

    async def submit():
        return await client.post("/initiatives", json=submission())

    async def submit_with_key():
        return await client.post("/initiatives", json=submission(),
                                 headers={"Idempotency-Key": str(uuid.uuid4())})

    assert await round_trips_of(proxy, pool, submit) == 1
    await submit_with_key()
    assert await round_trips_of(proxy, pool, submit_with_key) == 1


async def test_while_the_database_is_unreachable_requests_answer_503_with_retry_after(proxied):
    proxy, client, _ = proxied
    body = submission()
    await proxy.cut()
    try:
        command = await client.post("/initiatives", json=body)
        query = await client.get(f"/initiatives/{body['initiative_id']}")
        ready = await client.get("/readyz")
    finally:
        await proxy.restore()
    for answer in (command, query):
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["type"] == "urn:thidua:problem:service-unavailable"
        assert answer.json()["correlation_id"] == answer.headers["x-correlation-id"]
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("failing")

    retried = await client.post("/initiatives", json=body)
    assert retried.status_code == 202, retried.text
    assert (await client.get(f"/initiatives/{body['initiative_id']}")).status_code == 200

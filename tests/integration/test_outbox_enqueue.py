"""Staging events in the outbox: one statement that also wakes the relay, delivered at commit."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.runtime import outbox
from services.runtime.db import open_schema
from tests.support.events import initiative_submitted
from tests.support.postgres_proxy import PostgresProxy

pytestmark = pytest.mark.integration


@pytest.fixture
async def schema(database_url):
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    pool = await open_schema(database_url, name)
    yield name, pool
    await pool.close()


async def test_enqueue_refuses_to_run_outside_the_state_changes_transaction(schema):
    _, pool = schema
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await outbox.enqueue(conn, [initiative_submitted()])


async def test_enqueue_is_one_round_trip_and_wakes_the_relay_only_at_commit(schema, database_url):
    name, pool = schema
    woken = asyncio.Event()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(outbox.notify_channel(name), lambda *_: woken.set())
    proxy = PostgresProxy(database_url)
    conn = await asyncpg.connect(await proxy.start(), server_settings={
        "search_path": name, "application_name": "enqueue-test"})
    try:
        async with conn.transaction():  # the statement prepared once, as a pool's would be
            await outbox.enqueue(conn, [initiative_submitted()])
            await conn.execute("DELETE FROM outbox")
        await asyncio.wait_for(woken.wait(), 5)
        woken.clear()
        events = [initiative_submitted() for _ in range(3)]
        async with conn.transaction():
            before = proxy.round_trips["enqueue-test"]
            await outbox.enqueue(conn, events)
            assert proxy.round_trips["enqueue-test"] - before == 1
            await asyncio.sleep(0.2)
            assert not woken.is_set()  # nothing is visible to the relay yet
        await asyncio.wait_for(woken.wait(), 5)
        staged = await pool.fetch("SELECT event_id FROM outbox ORDER BY seq")
        assert [r["event_id"] for r in staged] == [e.id for e in events]
    finally:
        await conn.close()
        await listener.close()
        await proxy.stop()

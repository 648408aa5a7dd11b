"""Staging events in the outbox: one statement; the relay is woken once the rows are committed
— on a pooled connection by the pool's release (directly when the relay leads in the process,
else by one NOTIFY covering every commit since the previous one), on a connection of its own by
a NOTIFY delivered at commit."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.runtime import outbox, outbox_wake
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
        await asyncio.wait_for(woken.wait(), 60)
        woken.clear()
        events = [initiative_submitted() for _ in range(3)]
        async with conn.transaction():
            before = proxy.round_trips["enqueue-test"]
            await outbox.enqueue(conn, events)
            assert proxy.round_trips["enqueue-test"] - before == 1
            await asyncio.sleep(0.2)
            assert not woken.is_set()  # nothing is visible to the relay yet
        await asyncio.wait_for(woken.wait(), 60)
        staged = await pool.fetch("SELECT event_id FROM outbox ORDER BY seq")
        assert [r["event_id"] for r in staged] == [e.id for e in events]
    finally:
        await conn.close()
        await listener.close()
        await proxy.stop()


async def _listening(database_url: str, name: str) -> tuple[asyncpg.Connection, list]:
    heard: list = []
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(outbox.notify_channel(name), lambda *args: heard.append(args))
    return listener, heard


async def _eventually(condition, seconds: float = 60.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not woken")


async def test_a_pooled_commit_wakes_the_relay_after_it_and_notifies_outside_it(schema,
                                                                              database_url):
    name, pool = schema
    listener, heard = await _listening(database_url, name)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, [initiative_submitted()])
            command_pid = conn.get_server_pid()
            await asyncio.sleep(0.2)
            assert heard == []
        await _eventually(lambda: len(heard) == 1)
        # The transaction itself queued no NOTIFY: the waker's own connection sent it.
        (_, connection_pid, channel, _), = heard
        assert channel == outbox.notify_channel(name)
        assert connection_pid != command_pid
        # A rolled-back transaction wakes the relay for nothing, harmlessly; a statement that
        # stages nothing does not mark its task.
        await pool.execute("SELECT 1")
        await asyncio.sleep(0.2)
        assert len(heard) == 1
    finally:
        await listener.close()


async def test_wakes_while_a_notify_is_under_way_are_covered_by_one(schema, database_url):
    name, _ = schema
    listener, heard = await _listening(database_url, name)
    waker = outbox_wake.waker(name)
    try:
        for _ in range(50):
            waker.wake()
        await _eventually(lambda: len(heard) >= 1)
        await asyncio.sleep(0.3)
        assert len(heard) == 1
    finally:
        await listener.close()
        await waker.close()


async def test_the_relay_leading_in_the_process_is_woken_without_a_notify(schema, database_url):
    name, pool = schema
    listener, heard = await _listening(database_url, name)
    waker = outbox_wake.waker(name)
    woken = asyncio.Event()
    waker.lead_here(woken.set)
    try:
        row = await pool.fetchrow(*_single_statement())
        assert row["staged"] is True
        await asyncio.wait_for(woken.wait(), 60)
        await asyncio.sleep(0.2)
        assert heard == []
    finally:
        waker.stopped_leading(woken.set)
        await listener.close()
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1


def _single_statement() -> tuple:
    """A command's one statement carrying its outbox insert (`outbox.staging`)."""
    staged = outbox.staging([initiative_submitted()])
    return f"WITH {staged.cte} SELECT {staged.wake} AS staged", *staged.args

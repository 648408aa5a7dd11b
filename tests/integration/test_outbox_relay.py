"""The outbox relay against the real broker and database: nothing lost, order kept, ids kept."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections import Counter

import asyncpg
import pytest

from contracts.topics import INITIATIVES
from services.runtime import outbox
from services.runtime.db import open_schema
from services.runtime.kafka import create_producer
from services.runtime.relay import OutboxRelay
from services.runtime.settings import ServiceSettings
from tests.support.events import initiative_submitted
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def schema(database_url):
    name = f"relay_{uuid.uuid4().hex[:10]}"
    pool = await open_schema(database_url, name)
    yield name, pool
    await pool.close()


@pytest.fixture
async def producer(kafka_bootstrap_servers):
    producer = create_producer(ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers))
    await producer.start()
    yield producer
    await producer.stop()


async def stage(pool: asyncpg.Pool, campaign_id: str, count: int, per_tx: int = 250) -> list[str]:
    ids = []
    for start in range(0, count, per_tx):
        events = [initiative_submitted(campaign_id) for _ in range(min(per_tx, count - start))]
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, events)
        ids += [e.id for e in events]
    return ids


async def published(bootstrap: str, campaign_id: str) -> list[dict]:
    records = await read_topic(bootstrap, INITIATIVES.name)
    documents = [json.loads(r.value) for r in records]
    return [d for d in documents if d["data"]["campaign_id"] == campaign_id]


async def test_a_relay_killed_mid_batch_loses_nothing_and_republishes_with_the_same_ids(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-kill-{uuid.uuid4().hex[:8]}"
    ids = await stage(pool, campaign_id, 2_000)

    relay_process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.relay_process", "--kafka", kafka_bootstrap_servers,
        "--database-url", database_url, "--schema", name, "--batch-size", "200",
        "--hang-after", "3", stdout=asyncio.subprocess.PIPE,
        cwd=os.getcwd(),
    )
    # Batch 4 is on the broker, its rows still in the outbox, when the relay says "hanging".
    while (line := await asyncio.wait_for(relay_process.stdout.readline(), 60)) != b"hanging\n":
        assert line, "the relay process ended before it hung"
    relay_process.send_signal(signal.SIGKILL)
    await relay_process.wait()
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 2_000 - 3 * 200

    restarted = OutboxRelay(database_url, name, producer, batch_size=200)
    task = asyncio.create_task(restarted.run())
    try:
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout=60)
    finally:
        task.cancel()
    documents = await published(kafka_bootstrap_servers, campaign_id)
    copies = Counter(d["id"] for d in documents)
    assert set(copies) == set(ids)  # nothing lost
    assert sorted(copies.values()).count(2) == 200  # the killed batch went out twice...
    by_id = {}
    for d in documents:  # ...and each repeat is the same event, id and all
        assert by_id.setdefault(d["id"], d) == d


async def test_a_row_committed_after_an_open_transaction_waits_for_it(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-order-{uuid.uuid4().hex[:8]}"
    first, second = initiative_submitted(campaign_id), initiative_submitted(campaign_id)
    relay = OutboxRelay(database_url, name, producer, poll_interval=0.05)
    task = asyncio.create_task(relay.run())
    try:
        async with pool.acquire() as slow:
            tx = slow.transaction()
            await tx.start()
            await outbox.enqueue(slow, [first])  # lower sequence number, commits last
            async with pool.acquire() as fast, fast.transaction():
                await outbox.enqueue(fast, [second])
            await asyncio.sleep(0.5)
            assert await published(kafka_bootstrap_servers, campaign_id) == []
            await tx.commit()
        documents = await wait_for(
            lambda: _when_two(published(kafka_bootstrap_servers, campaign_id)), timeout=30
        )
    finally:
        task.cancel()
    assert [d["id"] for d in documents] == [first.id, second.id]


async def _when_two(documents_coro):
    documents = await documents_coro
    return documents if len(documents) == 2 else None


async def test_only_one_relay_leads_a_schema(schema, producer, database_url):
    name, _ = schema
    relays = [OutboxRelay(database_url, name, producer) for _ in range(2)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await wait_for(lambda: _any_leader(relays), timeout=10)
        await asyncio.sleep(0.3)
        assert sum(r.stats.is_leader for r in relays) == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _any_leader(relays):
    return any(r.stats.is_leader for r in relays)

"""Inbox retention on real PostgreSQL: only rows older than the retention go, in chunks."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from services.runtime.db import open_schema
from services.runtime.retention import prune_once

pytestmark = pytest.mark.integration

DAY = 24 * 3600.0


@pytest.fixture(scope="module")
async def pool(database_url):
    schema = f"retention_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, max_size=2)
    yield pool
    await pool.close()
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


@pytest.fixture(autouse=True)
async def empty_tables(pool):
    await pool.execute("TRUNCATE inbox, dead_letters_sent")


class CountingPool:
    """The pool, noting how many rows each statement deleted and from which table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.deleted: list[tuple[str, int]] = []

    async def execute(self, sql: str, *args) -> str:
        status = await self._pool.execute(sql, *args)
        table = "inbox" if "FROM inbox" in sql else "dead_letters_sent"
        self.deleted.append((table, int(status.split()[-1])))
        return status


async def applied(pool: asyncpg.Pool, prefix: str, count: int, age: timedelta) -> list[str]:
    """`count` events in the inbox, applied `age` ago."""
    ids = [f"{prefix}-{i}" for i in range(count)]
    await pool.execute(
        """INSERT INTO inbox (event_id, event_type, topic, kafka_partition, kafka_offset)
           SELECT id, 'thidua.initiative.submitted.v1', 'thidua.initiatives.v1', 0, n
           FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n)""", ids)
    await pool.execute("UPDATE inbox SET applied_at = applied_at - $2::interval "
                       "WHERE event_id = ANY($1::text[])", ids, age)
    return ids


async def dead_lettered(pool: asyncpg.Pool, first_offset: int, count: int, age: timedelta) -> None:
    """`count` dead letters of partition 0, sent `age` ago."""
    offsets = list(range(first_offset, first_offset + count))
    await pool.execute(
        """INSERT INTO dead_letters_sent (topic, kafka_partition, kafka_offset, reason_code)
           SELECT 'thidua.initiatives.v1', 0, o, 'not_json' FROM unnest($1::bigint[]) AS o""",
        offsets)
    await pool.execute("UPDATE dead_letters_sent SET sent_at = sent_at - $2::interval "
                       "WHERE kafka_offset = ANY($1::bigint[])", offsets, age)


async def inbox_ids(pool: asyncpg.Pool) -> set[str]:
    return {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox")}


async def test_only_events_applied_before_the_retention_are_forgotten(pool):
    await applied(pool, "old", 3, timedelta(days=8))
    recent = await applied(pool, "recent", 2, timedelta(days=6))
    fresh = await applied(pool, "fresh", 2, timedelta(0))
    assert await prune_once(pool, retention_s=7 * DAY) == 3
    assert await inbox_ids(pool) == {*recent, *fresh}


async def test_only_dead_letters_sent_before_the_retention_are_forgotten(pool):
    await dead_lettered(pool, 0, 2, timedelta(days=8))
    await dead_lettered(pool, 100, 3, timedelta(hours=1))
    assert await prune_once(pool, retention_s=7 * DAY) == 2
    offsets = await pool.fetch("SELECT kafka_offset FROM dead_letters_sent ORDER BY 1")
    assert [r["kafka_offset"] for r in offsets] == [100, 101, 102]


async def test_both_tables_are_pruned_in_chunks_until_nothing_old_is_left(pool):
    await applied(pool, "old", 5, timedelta(days=30))
    kept = await applied(pool, "fresh", 1, timedelta(0))
    await dead_lettered(pool, 0, 4, timedelta(days=30))
    counting = CountingPool(pool)
    assert await prune_once(counting, retention_s=7 * DAY, chunk=2) == 9
    assert counting.deleted == [
        ("inbox", 2), ("inbox", 2), ("inbox", 1),
        ("dead_letters_sent", 2), ("dead_letters_sent", 2), ("dead_letters_sent", 0),
    ]
    assert await inbox_ids(pool) == set(kept)
    assert await pool.fetchval("SELECT count(*) FROM dead_letters_sent") == 0


async def test_nothing_old_means_nothing_deleted(pool):
    fresh = await applied(pool, "fresh", 3, timedelta(minutes=5))
    await dead_lettered(pool, 0, 1, timedelta(minutes=5))
    assert await prune_once(pool, retention_s=7 * DAY) == 0
    assert await inbox_ids(pool) == set(fresh)
    assert await pool.fetchval("SELECT count(*) FROM dead_letters_sent") == 1

"""A consumer's batch transaction on the real database: its settings hold inside it alone, in
the round trip of its BEGIN; what it wrote is committed, or rolled back when the block raises."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.runtime.batch_transaction import batch_transaction, begin_statement
from services.runtime.db import open_schema

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url):
    schema = f"batch_tx_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, min_size=1, max_size=1)
    await pool.execute("CREATE TABLE effects (id int PRIMARY KEY)")
    yield pool
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


async def test_the_setting_holds_in_the_batch_alone_and_its_writes_commit(pool):
    begin = begin_statement("force_generic_plan")
    async with pool.acquire() as conn:
        sent: list[str] = []
        conn.add_query_logger(lambda record: sent.append(record.query))
        async with batch_transaction(conn, begin):
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
            await conn.execute("INSERT INTO effects VALUES (1)")
        assert sent[0] == begin  # one round trip: the BEGIN carries the setting
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1


async def test_a_block_that_raises_leaves_nothing_and_a_usable_connection(pool):
    async with pool.acquire() as conn:
        with pytest.raises(ValueError, match="handler failed"):
            async with batch_transaction(conn, begin_statement("force_generic_plan")):
                await conn.execute("INSERT INTO effects VALUES (2)")
                raise ValueError("handler failed")
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
        with pytest.raises(asyncpg.UniqueViolationError):
            async with batch_transaction(conn, begin_statement("force_generic_plan")):
                await conn.execute("INSERT INTO effects VALUES (3), (3)")
        assert not conn.is_in_transaction()
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0


async def test_without_settings_it_is_asyncpgs_own_transaction(pool):
    async with pool.acquire() as conn:
        async with batch_transaction(conn, begin_statement("")):
            assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
            await conn.execute("INSERT INTO effects VALUES (4)")
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1


async def test_a_batch_cancelled_mid_statement_leaves_nothing_and_the_pool_usable(pool):
    started = asyncio.Event()

    async def batch() -> None:
        async with pool.acquire() as conn, batch_transaction(
                conn, begin_statement("force_generic_plan")):
            await conn.execute("INSERT INTO effects VALUES (5)")
            started.set()
            await conn.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(batch())
    await started.wait()
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with pool.acquire() as conn:  # the pool's one connection, or its replacement
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0

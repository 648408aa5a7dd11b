"""PostgreSQL's batched-upsert ceiling for the rows a worker kept: the same rows, into tables of
the same shape (columns, defaults, constraints and indexes: `LIKE … INCLUDING ALL`), written
by one binary `unnest` upsert per table per batch, in as many batches and on as many
connections as the worker used. No reads, no pricing, no decoding: what the database alone
takes to store what the worker stored, which is the work a worker's events/s is a share of.

Rows changed in place by the worker (totals moved, a fact repriced) are not written again:
the ceiling errs on the fast side.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg


async def kept_rows_ceiling(pool: asyncpg.Pool, source_schema: str, tables: tuple[str, ...],
                            batches: int, connections: int) -> tuple[float, int]:
    """Seconds to upsert every row of `tables` in `source_schema` into copies of them, cut into
    `batches` batches of one transaction per connection; and the rows written."""
    schema = f"bench_kept_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE SCHEMA {schema}")
    try:
        kept = {}
        for t in tables:
            await pool.execute(
                f"CREATE TABLE {schema}.{t} (LIKE {source_schema}.{t} INCLUDING ALL)")
            kept[t] = [tuple(r) for r in await pool.fetch(f"SELECT * FROM {source_schema}.{t}")]
        upserts = {t: f"INSERT INTO {schema}.{t} SELECT * FROM unnest($1::{schema}.{t}[]) "
                      "ON CONFLICT DO NOTHING" for t in tables}

        async def write(batch: int, part: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                for t, rows in kept.items():
                    share = _share(rows, batch, batches, part, connections)
                    if share:
                        await conn.execute(upserts[t], share)

        async with pool.acquire() as conn:  # the composite types introspected before the clock
            for t in tables:
                await conn.execute(upserts[t], [])
        started = time.perf_counter()
        for b in range(batches):
            await asyncio.gather(*(write(b, p) for p in range(connections)))
        return time.perf_counter() - started, sum(len(rows) for rows in kept.values())
    finally:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")


def _share(rows: list[tuple], batch: int, batches: int, part: int, parts: int) -> list[tuple]:
    """The rows of one connection's part of one batch: the table's rows cut evenly."""
    start, end = len(rows) * batch // batches, len(rows) * (batch + 1) // batches
    return rows[start + (end - start) * part // parts:start + (end - start) * (part + 1) // parts]

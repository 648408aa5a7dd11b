"""Inbox retention: forget applied event ids (and sent dead letters) older than a setting.

Why forgetting is safe: an event comes back only while its offset is not yet committed — a
batch rewound after a failure, a rebalance mid-batch, a relay republishing after a crash — all
within minutes. Offsets are committed right after each batch's transaction, so after a few days
no redelivery can bring an event back. The one way older events return is a deliberate replay
(offsets reset to rebuild state), which resets this service's tables, the inbox with them.
"""

from __future__ import annotations

import asyncio
import zlib

import asyncpg
import structlog

from . import metrics

log = structlog.get_logger()

_PRUNE = """
    WITH old AS (
        SELECT ctid FROM {table} WHERE {column} < now() - make_interval(secs => $1) LIMIT $2
    )
    DELETE FROM {table} t USING old WHERE t.ctid = old.ctid
"""
_TABLES = (("inbox", "applied_at"), ("dead_letters_sent", "sent_at"))


async def prune_once(pool: asyncpg.Pool, retention_s: float, chunk: int = 10_000) -> int:
    """Delete everything older than the retention, in chunks (short transactions); return count."""
    total = 0
    for table, column in _TABLES:
        sql = _PRUNE.format(table=table, column=column)
        while True:
            status = await pool.execute(sql, retention_s, chunk)
            deleted = int(status.split()[-1])
            total += deleted
            if deleted < chunk:
                break
    metrics.INBOX_PRUNED.inc(total)
    return total


async def prune_forever(
    pool: asyncpg.Pool, schema: str, retention_s: float, interval_s: float
) -> None:
    """Prune every interval; one replica at a time (the others find the lock taken and skip)."""
    lock = zlib.crc32(f"thidua-retention-{schema}".encode())
    while True:
        try:
            async with pool.acquire() as conn:
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):
                    try:
                        deleted = await prune_once(pool, retention_s)
                    finally:
                        await conn.execute("SELECT pg_advisory_unlock($1)", lock)
                    if deleted:
                        log.info("inbox_pruned", rows=deleted, retention_s=retention_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("inbox_prune_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(interval_s)

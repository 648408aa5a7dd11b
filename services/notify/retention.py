"""Retention of notify's delivery records: e-mails sent or given up, webhook deliveries
delivered or parked, digest items already taken into a digest, and the shared message bodies no
delivery names any more — deleted once older than `NOTIFY_RETENTION_DAYS`; and the members'
in-app messages, read or not, once older than `NOTIFY_IN_APP_RETENTION_DAYS` (longer: the inbox
is the members' own record of what they were told).

Set-based and in batches: each statement deletes at most `NOTIFY_RETENTION_BATCH_SIZE` rows
(its own short transaction, by an index on the age column), then pauses
`NOTIFY_RETENTION_BATCH_PAUSE_MS`, until a batch comes back short; a run every
`NOTIFY_RETENTION_INTERVAL_S`, one replica at a time (an advisory lock; the others skip).
Pending rows are never touched.

Why the delivery and in-app ids may go: they are what keeps a redelivered event from being sent
twice, but an event comes back only within the runtime's inbox window (`INBOX_RETENTION_HOURS`,
days), and either retention is refused shorter than that (`NotifySettings`).
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import timedelta

import asyncpg
import structlog
from prometheus_client import Counter

from .settings import NotifySettings

log = structlog.get_logger()

PRUNED = Counter("thidua_notify_pruned_total",
                 "Delivery records and in-app messages deleted by the retention job, by table.",
                 ["table"])

# Each: the rows of one batch, oldest first, skipping rows another transaction holds; $1 is the
# table's cutoff (the members' in-app messages have their own, `in_app_retention_days`).
BATCHES = {
    "deliveries": """
        DELETE FROM deliveries WHERE notification_id IN (
            SELECT notification_id FROM deliveries
            WHERE status <> 'pending' AND finished_at < $1
            ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    "webhook_deliveries": """
        DELETE FROM webhook_deliveries WHERE delivery_id IN (
            SELECT delivery_id FROM webhook_deliveries
            WHERE status <> 'pending' AND finished_at < $1
            ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    "digest_items": """
        DELETE FROM digest_items WHERE notification_id IN (
            SELECT notification_id FROM digest_items
            WHERE digest_id IS NOT NULL AND created_at < $1
            ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    # After the deliveries: a body older than the retention that no delivery names. A fan-out
    # reusing the same content at this moment holds the body (its foreign key check locks it),
    # so SKIP LOCKED leaves it alone.
    "message_bodies": """
        DELETE FROM message_bodies WHERE body_id IN (
            SELECT b.body_id FROM message_bodies b
            WHERE b.created_at < $1
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.body_id = b.body_id)
            ORDER BY b.created_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
    "notifications": """
        DELETE FROM notifications WHERE notification_id IN (
            SELECT notification_id FROM notifications
            WHERE created_at < $1
            ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
}


async def prune_once(pool: asyncpg.Pool, settings: NotifySettings) -> dict[str, int]:
    """One run: every table in batches until a batch comes back short; rows deleted, by
    table."""
    now = await pool.fetchval("SELECT now()")
    pause = settings.retention_batch_pause_ms / 1000
    deleted: dict[str, int] = {}
    for table, sql in BATCHES.items():
        cutoff = now - timedelta(days=settings.in_app_retention_days if table == "notifications"
                                 else settings.retention_days)
        total = 0
        while True:
            status = await pool.execute(sql, cutoff, settings.retention_batch_size)
            count = int(status.split()[-1])
            total += count
            PRUNED.labels(table).inc(count)
            if count < settings.retention_batch_size:
                break
            await asyncio.sleep(pause)
        deleted[table] = total
    return deleted


class Retention:
    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings, schema: str) -> None:
        self.pool, self.settings = pool, settings
        self.lock = zlib.crc32(f"thidua-notify-retention-{schema}".encode())

    async def run_once(self) -> dict[str, int] | None:
        """A run, unless another replica holds the lock (None)."""
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock):
                return None
            try:
                deleted = await prune_once(self.pool, self.settings)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", self.lock)
        if any(deleted.values()):
            log.info("notify_pruned", retention_days=self.settings.retention_days, **deleted)
        return deleted

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify_prune_failed", error=type(exc).__name__)
            await asyncio.sleep(self.settings.retention_interval_s)


async def run_retention(runtime) -> None:
    """The worker task the runtime starts beside the consumer (`ServiceDefinition.workers`)."""
    d = runtime.definition
    await Retention(runtime.pool, d.settings, d.schema).run()

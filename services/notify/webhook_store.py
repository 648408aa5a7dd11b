"""Webhook subscriptions over HTTP: secrets stay in notify and travel on no topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg


@asynccontextmanager
async def _transaction(db: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on a pooled connection, or a savepoint within a command's transaction."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction():
            yield conn
    else:
        async with db.transaction():
            yield db


async def create_webhook(db: asyncpg.Pool | asyncpg.Connection, webhook_id: str, owner: str,
                         url: str, event_types: list[str], district: str, secret: str) -> dict:
    async with _transaction(db) as conn:
        row = await conn.fetchrow(
            """INSERT INTO webhooks (webhook_id, owner, url, event_types, district)
               VALUES ($1, $2, $3, $4, $5) RETURNING *""",
            webhook_id, owner, url, event_types, district)
        await conn.execute("INSERT INTO webhook_secrets (webhook_id, secret) VALUES ($1, $2)",
                           webhook_id, secret)
    return dict(row)


async def webhooks_of(pool: asyncpg.Pool, owner: str | None) -> list[dict]:
    """Live subscriptions of one owner (all owners when None), oldest first."""
    rows = await pool.fetch(
        """SELECT * FROM webhooks WHERE deleted_at IS NULL AND ($1::text IS NULL OR owner = $1)
           ORDER BY created_at, webhook_id""", owner)
    return [dict(r) for r in rows]


async def webhook(pool: asyncpg.Pool, webhook_id: str, *,
                  with_deleted: bool = False) -> dict | None:
    row = await pool.fetchrow(
        "SELECT * FROM webhooks WHERE webhook_id = $1 AND ($2 OR deleted_at IS NULL)",
        webhook_id, with_deleted)
    return dict(row) if row else None


async def delete_webhook(pool: asyncpg.Pool, webhook_id: str) -> None:
    """The subscription stops receiving; what is queued for it is not sent any more."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("""UPDATE webhooks SET deleted_at = now()
                              WHERE webhook_id = $1 AND deleted_at IS NULL""", webhook_id)
        await conn.execute(
            """UPDATE webhook_deliveries SET status = 'parked', last_error = 'subscription deleted',
                   finished_at = now() WHERE webhook_id = $1 AND status = 'pending'""",
            webhook_id)


async def rotate_secret(db: asyncpg.Pool | asyncpg.Connection, webhook_id: str, secret: str,
                        overlap_s: float) -> bool:
    """A new secret signs from now on; the ones before keep signing for `overlap_s`. False,
    changing nothing, when the subscription is deleted (its row locked against a deletion
    committing meanwhile)."""
    async with _transaction(db) as conn:
        if not await conn.fetchval(
                """SELECT deleted_at IS NULL FROM webhooks WHERE webhook_id = $1 FOR UPDATE""",
                webhook_id):
            return False
        await conn.execute(
            """UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => $2)
               WHERE webhook_id = $1 AND (expires_at IS NULL
                     OR expires_at > now() + make_interval(secs => $2))""",
            webhook_id, float(overlap_s))
        await conn.execute("INSERT INTO webhook_secrets (webhook_id, secret) VALUES ($1, $2)",
                           webhook_id, secret)
    return True


async def webhook_deliveries(pool: asyncpg.Pool, webhook_id: str, status: str | None,
                             limit: int, *, event_type: str | None = None,
                             before: tuple[datetime, str] | None = None) -> list[dict]:
    """Newest first, from after the cursor (the last row's `created_at`, `delivery_id`)."""
    rows = await pool.fetch(
        """SELECT delivery_id, webhook_id, event_id, event_type, status, attempts,
                  next_attempt_at, last_error, created_at, finished_at
           FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2)
             AND ($4::text IS NULL OR event_type = $4)
             AND ($5::timestamptz IS NULL OR (created_at, delivery_id) < ($5, $6))
           ORDER BY created_at DESC, delivery_id DESC LIMIT $3""",
        webhook_id, status, limit, event_type, *(before or (None, None)))
    return [dict(r) for r in rows]


async def replay_delivery(pool: asyncpg.Pool, webhook_id: str, delivery_id: str) -> dict | None:
    """A parked delivery is due again at once, with a fresh set of attempts; None when no such
    delivery is parked."""
    row = await pool.fetchrow(
        """UPDATE webhook_deliveries SET status = 'pending', attempts = 0,
               next_attempt_at = now(), finished_at = NULL
           WHERE webhook_id = $1 AND delivery_id = $2 AND status = 'parked'
             AND EXISTS (SELECT 1 FROM webhooks w
                         WHERE w.webhook_id = $1 AND w.deleted_at IS NULL)
           RETURNING delivery_id, webhook_id, event_id, event_type, status, attempts,
                     next_attempt_at, last_error, created_at, finished_at""",
        webhook_id, delivery_id)
    return dict(row) if row else None


async def webhook_delivery(pool: asyncpg.Pool, webhook_id: str, delivery_id: str) -> dict | None:
    row = await pool.fetchrow(
        """SELECT delivery_id, webhook_id, event_id, event_type, status, attempts,
                  next_attempt_at, last_error, created_at, finished_at
           FROM webhook_deliveries WHERE webhook_id = $1 AND delivery_id = $2""",
        webhook_id, delivery_id)
    return dict(row) if row else None

"""All of notify's SQL."""

from __future__ import annotations

import asyncpg

from .domain import Message


async def record_in_app(
    conn: asyncpg.Connection, message: Message, source_event_id: str, correlation_id: str
) -> bool:
    """Put the message in the recipient's inbox; False if it was already there."""
    inserted = await conn.fetchval(
        """INSERT INTO notifications (notification_id, recipient_id, recipient_kind, channel,
               template, subject, body, source_event_id, correlation_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT DO NOTHING RETURNING notification_id""",
        message.notification_id, message.recipient_id, message.recipient_kind, message.channel,
        message.template, message.subject, message.body, source_event_id, correlation_id,
    )
    return inserted is not None


async def notifications_of(pool: asyncpg.Pool, recipient_id: str, limit: int) -> list[dict]:
    rows = await pool.fetch(
        """SELECT notification_id, template, subject, body, channel, source_event_id,
                  correlation_id, created_at, read_at
           FROM notifications WHERE recipient_id = $1
           ORDER BY created_at DESC, notification_id LIMIT $2""",
        recipient_id, limit,
    )
    return [dict(r) for r in rows]

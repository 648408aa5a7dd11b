"""The members' in-app inbox over HTTP: pages, counts, read marks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg


async def notifications_of(pool: asyncpg.Pool, recipient_id: str, limit: int, *,
                           before: tuple[datetime, str] | None = None,
                           unread: bool | None = None, template: str | None = None,
                           correlation_id: str | None = None) -> list[dict]:
    """Newest first, from after the cursor (the last row's `created_at`, `notification_id`)."""
    rows = await pool.fetch(
        """SELECT notification_id, template, subject, body, channel, source_event_id,
                  correlation_id, created_at, read_at
           FROM notifications
           WHERE recipient_id = $1
             AND ($3::timestamptz IS NULL OR (created_at, notification_id) < ($3, $4))
             AND ($5::boolean IS NULL OR (read_at IS NULL) = $5)
             AND ($6::text IS NULL OR template = $6)
             AND ($7::text IS NULL OR correlation_id = $7)
           ORDER BY created_at DESC, notification_id DESC LIMIT $2""",
        recipient_id, limit, *(before or (None, None)), unread, template, correlation_id,
    )
    return [dict(r) for r in rows]


async def inbox_counts(pool: asyncpg.Pool, recipient_id: str) -> dict:
    row = await pool.fetchrow(
        """SELECT count(*) AS total, count(*) FILTER (WHERE read_at IS NULL) AS unread
           FROM notifications WHERE recipient_id = $1""", recipient_id)
    return dict(row)


async def mark_read(pool: asyncpg.Pool, recipient_id: str, ids: Sequence[str] | None) -> int:
    """Mark the member's messages read (all of them when `ids` is None); a message read
    already keeps its first `read_at`. Returns how many changed."""
    rows = await pool.fetch(
        """UPDATE notifications SET read_at = now()
           WHERE recipient_id = $1 AND read_at IS NULL
             AND ($2::text[] IS NULL OR notification_id = ANY($2::text[]))
           RETURNING 1""", recipient_id, None if ids is None else list(ids))
    return len(rows)

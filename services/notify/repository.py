"""All of notify's SQL."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from .domain import Outgoing


class NotifyRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record_in_app(self, outgoing: Sequence[Outgoing]) -> list[Outgoing]:
        """Put messages in their recipients' inboxes; return those not already there."""
        if not outgoing:
            return []
        rows = await self._conn.fetch(
            """INSERT INTO notifications (notification_id, recipient_id, recipient_kind, channel,
                   template, subject, body, source_event_id, correlation_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::text[], $8::text[], $9::text[])
               ON CONFLICT DO NOTHING RETURNING notification_id""",
            [o.message.notification_id for o in outgoing],
            [o.message.recipient_id for o in outgoing],
            [o.message.recipient_kind for o in outgoing], [o.message.channel for o in outgoing],
            [o.message.template for o in outgoing], [o.message.subject for o in outgoing],
            [o.message.body for o in outgoing], [o.source_event_id for o in outgoing],
            [o.correlation_id for o in outgoing],
        )
        new = {r["notification_id"] for r in rows}
        return [o for o in outgoing if o.message.notification_id in new]


async def notifications_of(pool: asyncpg.Pool, recipient_id: str, limit: int) -> list[dict]:
    rows = await pool.fetch(
        """SELECT notification_id, template, subject, body, channel, source_event_id,
                  correlation_id, created_at, read_at
           FROM notifications WHERE recipient_id = $1
           ORDER BY created_at DESC, notification_id LIMIT $2""",
        recipient_id, limit,
    )
    return [dict(r) for r in rows]

"""All of notify's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from .domain import Outgoing, Reach


@dataclass(frozen=True)
class EmailDelivery:
    """An e-mail to send, rendered, waiting in `deliveries` for the sender."""

    outgoing: Outgoing
    language: str
    text_body: str
    html_body: str
    district: str | None


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

    async def reach_of(self, member_ids: Sequence[str]) -> dict[str, Reach]:
        """How each member may be reached; members notify knows nothing of get the defaults."""
        rows = await self._conn.fetch(
            """SELECT m.id AS member_id, c.email IS NOT NULL AS has_email,
                      coalesce(p.email_enabled, true) AS email_enabled,
                      coalesce(p.in_app_enabled, true) AS in_app_enabled,
                      coalesce(p.language, 'vi') AS language
               FROM unnest($1::text[]) AS m(id)
               LEFT JOIN member_contacts c ON c.member_id = m.id
               LEFT JOIN member_preferences p ON p.member_id = m.id""",
            list(dict.fromkeys(member_ids)),
        )
        return {r["member_id"]: Reach(r["has_email"], r["email_enabled"], r["in_app_enabled"],
                                      r["language"]) for r in rows}

    async def queue_emails(self, deliveries: Sequence[EmailDelivery]) -> int:
        """Queue e-mails for the sender; one already queued for its notification id is left
        as it is (a redelivered event sends nothing more). Returns how many were new."""
        if not deliveries:
            return 0
        rows = await self._conn.fetch(
            """INSERT INTO deliveries (notification_id, recipient_id, recipient_kind, channel,
                   template, language, subject, text_body, html_body, source_event_id,
                   correlation_id, district)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                                    $11::text[], $12::text[])
               ON CONFLICT DO NOTHING RETURNING 1""",
            [d.outgoing.message.notification_id for d in deliveries],
            [d.outgoing.message.recipient_id for d in deliveries],
            [d.outgoing.message.recipient_kind for d in deliveries],
            [d.outgoing.message.channel for d in deliveries],
            [d.outgoing.message.template for d in deliveries],
            [d.language for d in deliveries],
            [d.outgoing.message.subject for d in deliveries],
            [d.text_body for d in deliveries], [d.html_body for d in deliveries],
            [d.outgoing.source_event_id for d in deliveries],
            [d.outgoing.correlation_id for d in deliveries],
            [d.district for d in deliveries],
        )
        return len(rows)


async def notifications_of(pool: asyncpg.Pool, recipient_id: str, limit: int) -> list[dict]:
    rows = await pool.fetch(
        """SELECT notification_id, template, subject, body, channel, source_event_id,
                  correlation_id, created_at, read_at
           FROM notifications WHERE recipient_id = $1
           ORDER BY created_at DESC, notification_id LIMIT $2""",
        recipient_id, limit,
    )
    return [dict(r) for r in rows]


# Contacts and preferences (HTTP): private to notify, never emitted.

async def contacts_of(pool: asyncpg.Pool, member_id: str) -> dict | None:
    row = await pool.fetchrow(
        "SELECT email, phone, updated_at FROM member_contacts WHERE member_id = $1", member_id)
    return dict(row) if row else None


async def put_contacts(pool: asyncpg.Pool, member_id: str, email: str | None,
                       phone: str | None, by: str) -> dict:
    row = await pool.fetchrow(
        """INSERT INTO member_contacts (member_id, email, phone, updated_by)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (member_id) DO UPDATE SET email = excluded.email, phone = excluded.phone,
               updated_at = now(), updated_by = excluded.updated_by
           RETURNING email, phone, updated_at""",
        member_id, email, phone, by,
    )
    return dict(row)


async def preferences_of(pool: asyncpg.Pool, member_id: str) -> dict | None:
    row = await pool.fetchrow(
        """SELECT language, email_enabled, in_app_enabled, updated_at
           FROM member_preferences WHERE member_id = $1""", member_id)
    return dict(row) if row else None


async def put_preferences(pool: asyncpg.Pool, member_id: str, language: str,
                          email_enabled: bool, in_app_enabled: bool, by: str) -> dict:
    row = await pool.fetchrow(
        """INSERT INTO member_preferences (member_id, language, email_enabled, in_app_enabled,
               updated_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (member_id) DO UPDATE SET language = excluded.language,
               email_enabled = excluded.email_enabled, in_app_enabled = excluded.in_app_enabled,
               updated_at = now(), updated_by = excluded.updated_by
           RETURNING language, email_enabled, in_app_enabled, updated_at""",
        member_id, language, email_enabled, in_app_enabled, by,
    )
    return dict(row)

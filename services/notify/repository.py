"""All of notify's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from contracts import CloudEvent
from contracts.codec import encode_event

from .domain import Outgoing, Reach, webhook_delivery_id


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

    async def queue_webhooks(self, events: Sequence[CloudEvent]) -> int:
        """One delivery per (event, live subscription of its type and district); one already
        queued is left as it is. Returns how many were new."""
        events = [e for e in events if e.district]
        if not events:
            return 0
        subscriptions = await self._conn.fetch(
            """SELECT webhook_id, event_types, district FROM webhooks
               WHERE deleted_at IS NULL AND district = ANY($1::text[])
                 AND event_types && $2::text[]""",
            list({e.district for e in events}), list({e.type for e in events}))
        rows = [(webhook_delivery_id(e.id, s["webhook_id"]), s["webhook_id"], e.id, e.type,
                 encode_event(e).decode())
                for e in events for s in subscriptions
                if e.district == s["district"] and e.type in s["event_types"]]
        if not rows:
            return 0
        new = await self._conn.fetch(
            """INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, event_type,
                   body)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
               ON CONFLICT DO NOTHING RETURNING 1""",
            *[list(column) for column in zip(*rows, strict=True)])
        return len(new)


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


# Webhook subscriptions (HTTP): secrets stay in notify and travel on no topic.

async def create_webhook(pool: asyncpg.Pool, webhook_id: str, owner: str, url: str,
                         event_types: list[str], district: str, secret: str) -> dict:
    async with pool.acquire() as conn, conn.transaction():
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


async def rotate_secret(pool: asyncpg.Pool, webhook_id: str, secret: str,
                        overlap_s: float) -> None:
    """A new secret signs from now on; the ones before keep signing for `overlap_s`."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => $2)
               WHERE webhook_id = $1 AND (expires_at IS NULL
                     OR expires_at > now() + make_interval(secs => $2))""",
            webhook_id, float(overlap_s))
        await conn.execute("INSERT INTO webhook_secrets (webhook_id, secret) VALUES ($1, $2)",
                           webhook_id, secret)


async def webhook_deliveries(pool: asyncpg.Pool, webhook_id: str, status: str | None,
                             limit: int) -> list[dict]:
    rows = await pool.fetch(
        """SELECT delivery_id, webhook_id, event_id, event_type, status, attempts,
                  next_attempt_at, last_error, created_at, finished_at
           FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2)
           ORDER BY created_at DESC, delivery_id LIMIT $3""", webhook_id, status, limit)
    return [dict(r) for r in rows]


async def replay_delivery(pool: asyncpg.Pool, webhook_id: str, delivery_id: str) -> dict | None:
    """A parked delivery is due again at once, with a fresh set of attempts; None when no such
    delivery is parked."""
    row = await pool.fetchrow(
        """UPDATE webhook_deliveries SET status = 'pending', attempts = 0,
               next_attempt_at = now(), finished_at = NULL
           WHERE webhook_id = $1 AND delivery_id = $2 AND status = 'parked'
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

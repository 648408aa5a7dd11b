"""All of notify's SQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time

import asyncpg

from contracts import CloudEvent
from contracts.codec import encode_event
from services.runtime.directory.queries import MAX_DEPTH
from services.runtime.vietnamese import vietnam_date

from .domain import Outgoing, webhook_delivery_id
from .triggers import Audience, Campaign, Names


@dataclass(frozen=True)
class EmailDelivery:
    """An e-mail to send, rendered, waiting in `deliveries` for the sender."""

    outgoing: Outgoing
    language: str
    text_body: str
    html_body: str
    district: str | None


@dataclass(frozen=True)
class Recipient:
    """A member of an audience (by the audience's index) and how they may be reached."""

    audience: int
    member_id: str
    language: str
    in_app: bool
    by_email: bool
    digest: bool  # e-mails wait for the daily digest


@dataclass(frozen=True)
class DigestItem:
    notification_id: str
    recipient_id: str
    template: str
    subject: str
    language: str
    source_event_id: str
    correlation_id: str
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

    async def recipients(self, audiences: Sequence[Audience]) -> list[Recipient]:
        """Every member of each audience (by its index), with how they may be reached, in one
        query: named members; the union officers of listed units and of every unit under a
        root, as the directory stood on the audience's date."""
        if not audiences:
            return []
        roots = [(i, a.officials_below, a.on) for i, a in enumerate(audiences)
                 if a.officials_below]
        units = [(i, u, a.on) for i, a in enumerate(audiences) for u in a.officials_of]
        named = [(i, m) for i, a in enumerate(audiences) for m in a.members]
        rows = await self._conn.fetch(
            f"""WITH RECURSIVE down (idx, unit_id, on_day, depth) AS (
                    SELECT idx, unit_id, on_day, 0
                    FROM unnest($1::int[], $2::text[], $3::date[]) AS r (idx, unit_id, on_day)
                    UNION ALL
                    SELECT down.idx, c.unit_id, down.on_day, down.depth + 1
                    FROM down JOIN directory_units AS c
                         ON c.parent_id = down.unit_id AND c.valid @> down.on_day
                    WHERE down.depth < {MAX_DEPTH}),
                units AS (
                    SELECT idx, unit_id, on_day FROM down
                    UNION
                    SELECT * FROM unnest($4::int[], $5::text[], $6::date[])),
                targets AS (
                    SELECT u.idx, m.member_id
                    FROM units u JOIN directory_members m
                         ON m.unit_id = u.unit_id AND m.valid @> u.on_day
                    WHERE m.union_officer AND m.status = 'active'
                    UNION
                    SELECT * FROM unnest($7::int[], $8::text[]))
                SELECT t.idx, t.member_id, coalesce(p.language, 'vi') AS language,
                       coalesce(p.in_app_enabled, true) AS in_app,
                       c.email IS NOT NULL AND coalesce(p.email_enabled, true) AS by_email,
                       coalesce(p.email_digest, 'off') = 'daily' AS digest
                FROM targets t
                LEFT JOIN member_preferences p ON p.member_id = t.member_id
                LEFT JOIN member_contacts c ON c.member_id = t.member_id
                ORDER BY t.idx, t.member_id""",
            *_columns(roots, 3), *_columns(units, 3), *_columns(named, 2))
        return [Recipient(*r.values()) for r in rows]

    async def record_campaigns(self, launched: Sequence[tuple]) -> None:
        """(campaign id, organizer, theme, year, {phase id: name}, recorded at); a later
        record of one campaign replaces the earlier."""
        if not launched:
            return
        await self._conn.execute(
            """INSERT INTO campaigns (campaign_id, organizer_unit_id, theme, year, phases,
                   recorded_at)
               SELECT c, o, t, y, p::jsonb, r FROM unnest($1::text[], $2::text[], $3::text[],
                   $4::int[], $5::text[], $6::timestamptz[]) AS x (c, o, t, y, p, r)
               ON CONFLICT (campaign_id) DO UPDATE SET
                   organizer_unit_id = excluded.organizer_unit_id, theme = excluded.theme,
                   year = excluded.year, phases = excluded.phases,
                   recorded_at = excluded.recorded_at
               WHERE campaigns.recorded_at <= excluded.recorded_at""",
            *_columns([(c, o, t, y, json.dumps(p), r) for c, o, t, y, p, r in launched], 6))

    async def record_initiatives(self, submitted: Sequence[tuple]) -> None:
        """(initiative id, unit, title, author ids, submitted at); the first record stays."""
        if not submitted:
            return
        await self._conn.execute(
            """INSERT INTO initiatives (initiative_id, unit_id, title, author_ids, submitted_at)
               SELECT i, u, t, string_to_array(a, '|'), s
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                           $5::timestamptz[]) AS x (i, u, t, a, s)
               ON CONFLICT (initiative_id) DO NOTHING""",
            *_columns([(i, u, t, "|".join(a), at) for i, u, t, a, at in submitted], 5))

    async def names(self, unit_ids: Sequence[str], campaign_ids: Sequence[str],
                    initiative_ids: Sequence[str], cluster_ids: Sequence[str] = ()) -> Names:
        """Units' latest names, campaigns, initiatives and clusters as kept, a query each."""
        units = await self._conn.fetch(
            """SELECT DISTINCT ON (unit_id) unit_id, name FROM directory_units
               WHERE unit_id = ANY($1::text[]) ORDER BY unit_id, effective_from DESC""",
            list(set(unit_ids)))
        campaigns = await self._conn.fetch(
            """SELECT campaign_id, organizer_unit_id, theme, phases FROM campaigns
               WHERE campaign_id = ANY($1::text[])""", list(set(campaign_ids)))
        initiatives = await self._conn.fetch(
            """SELECT initiative_id, title, author_ids FROM initiatives
               WHERE initiative_id = ANY($1::text[])""", list(set(initiative_ids)))
        clusters = await self._conn.fetch(
            """SELECT cluster_id, name, organizer_unit_id FROM directory_clusters
               WHERE cluster_id = ANY($1::text[])""", list(set(cluster_ids)))
        return Names(
            clusters={r["cluster_id"]: (r["name"], r["organizer_unit_id"]) for r in clusters},
            units={r["unit_id"]: r["name"] for r in units},
            campaigns={r["campaign_id"]: Campaign(r["organizer_unit_id"], r["theme"],
                                                  json.loads(r["phases"]))
                       for r in campaigns},
            initiatives={r["initiative_id"]: (r["title"], tuple(r["author_ids"]))
                         for r in initiatives})

    async def parents(self, units_on: Sequence[tuple[str, date]]) -> dict[tuple[str, date], str]:
        """Each (unit, date)'s parent on that date, where it has one."""
        rows = await self._conn.fetch(
            """SELECT x.unit_id, x.on_day, u.parent_id
               FROM unnest($1::text[], $2::date[]) AS x (unit_id, on_day)
               JOIN directory_units u ON u.unit_id = x.unit_id AND u.valid @> x.on_day
               WHERE u.parent_id IS NOT NULL""", *_columns(list(set(units_on)), 2))
        return {(r["unit_id"], r["on_day"]): r["parent_id"] for r in rows}

    async def queue_digest_items(self, items: Sequence[DigestItem]) -> int:
        """E-mails of members in digest mode, held for their next digest; one already held
        for its notification id is left as it is. Returns how many were new."""
        if not items:
            return 0
        rows = await self._conn.fetch(
            """INSERT INTO digest_items (notification_id, recipient_id, template, subject,
                   language, source_event_id, correlation_id, district)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                    $5::text[], $6::text[], $7::text[], $8::text[])
               ON CONFLICT DO NOTHING RETURNING 1""",
            *_columns([(i.notification_id, i.recipient_id, i.template, i.subject, i.language,
                        i.source_event_id, i.correlation_id, i.district) for i in items], 8))
        return len(rows)

    async def queue_emails(self, deliveries: Sequence[EmailDelivery]) -> int:
        """Queue e-mails for the sender, each due at once or at the end of its recipient's quiet
        hours; one already queued for its notification id is left as it is (a redelivered
        event sends nothing more). Returns how many were new."""
        if not deliveries:
            return 0
        rows = await self._conn.fetch(
            """INSERT INTO deliveries (notification_id, recipient_id, recipient_kind, channel,
                   template, language, subject, text_body, html_body, source_event_id,
                   correlation_id, district, next_attempt_at)
               SELECT u.*, quiet_until(now(), p.quiet_start, p.quiet_end)
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                           $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                           $11::text[], $12::text[]) AS u (id, recipient_id)
               LEFT JOIN member_preferences p ON p.member_id = u.recipient_id
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
        """One delivery per (event, live subscription of its type whose unit is the event's
        district, or its unit or any unit above that on the event's date); one already queued
        is left as it is. Returns how many were new."""
        if not events:
            return 0
        origins = [(i, anchor_unit(e), vietnam_date(e.time)) for i, e in enumerate(events)]
        matches = await self._conn.fetch(
            f"""WITH RECURSIVE up (idx, unit_id, parent_id, on_day, depth) AS (
                    SELECT o.idx, s.unit_id, s.parent_id, o.on_day, 0
                    FROM unnest($1::int[], $2::text[], $3::date[]) AS o (idx, unit_id, on_day)
                    JOIN directory_units s ON s.unit_id = o.unit_id AND s.valid @> o.on_day
                    UNION ALL
                    SELECT up.idx, s.unit_id, s.parent_id, up.on_day, up.depth + 1
                    FROM up JOIN directory_units s
                         ON s.unit_id = up.parent_id AND s.valid @> up.on_day
                    WHERE up.depth < {MAX_DEPTH}),
                scopes (idx, unit_id) AS (
                    SELECT idx, unit_id FROM up
                    UNION SELECT * FROM unnest($1::int[], $2::text[])
                    UNION SELECT * FROM unnest($1::int[], $4::text[]))
                SELECT DISTINCT s.idx, w.webhook_id
                FROM scopes s JOIN webhooks w ON w.district = s.unit_id
                WHERE w.deleted_at IS NULL AND ($5::text[])[s.idx + 1] = ANY(w.event_types)
                ORDER BY s.idx, w.webhook_id""",
            [i for i, _, _ in origins], [u for _, u, _ in origins], [d for _, _, d in origins],
            [e.district for e in events], [e.type for e in events])
        rows = []
        for m in matches:
            e = events[m["idx"]]
            rows.append((webhook_delivery_id(e.id, m["webhook_id"]), m["webhook_id"], e.id,
                         e.type, encode_event(e).decode()))
        if not rows:
            return 0
        new = await self._conn.fetch(
            """INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, event_type,
                   body)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
               ON CONFLICT DO NOTHING RETURNING 1""", *_columns(rows, 5))
        return len(new)


def _columns(rows: Sequence[tuple], width: int) -> list[list]:
    """Rows as the column arrays `unnest` takes (empty columns when there are no rows)."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def anchor_unit(event: CloudEvent) -> str | None:
    """The unit an event is about, for matching subscriptions' district scope."""
    data = event.data
    for name in ("unit_id", "closed_by_unit_id", "organizer_unit_id"):
        value = getattr(data, name, None)
        if value:
            return value
    return None


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
        """SELECT language, email_enabled, in_app_enabled, quiet_start, quiet_end,
                  email_digest, updated_at
           FROM member_preferences WHERE member_id = $1""", member_id)
    return dict(row) if row else None


async def put_preferences(pool: asyncpg.Pool, member_id: str, language: str,
                          email_enabled: bool, in_app_enabled: bool, by: str, *,
                          quiet: tuple[time, time] | None = None,
                          email_digest: str = "off") -> dict:
    row = await pool.fetchrow(
        """INSERT INTO member_preferences (member_id, language, email_enabled, in_app_enabled,
               updated_by, quiet_start, quiet_end, email_digest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (member_id) DO UPDATE SET language = excluded.language,
               email_enabled = excluded.email_enabled, in_app_enabled = excluded.in_app_enabled,
               quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,
               email_digest = excluded.email_digest,
               updated_at = now(), updated_by = excluded.updated_by
           RETURNING language, email_enabled, in_app_enabled, quiet_start, quiet_end,
                     email_digest, updated_at""",
        member_id, language, email_enabled, in_app_enabled, by, *(quiet or (None, None)),
        email_digest,
    )
    return dict(row)


# Webhook subscriptions (HTTP): secrets stay in notify and travel on no topic.

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
                        overlap_s: float) -> None:
    """A new secret signs from now on; the ones before keep signing for `overlap_s`."""
    async with _transaction(db) as conn:
        await conn.execute(
            """UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => $2)
               WHERE webhook_id = $1 AND (expires_at IS NULL
                     OR expires_at > now() + make_interval(secs => $2))""",
            webhook_id, float(overlap_s))
        await conn.execute("INSERT INTO webhook_secrets (webhook_id, secret) VALUES ($1, $2)",
                           webhook_id, secret)


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


# Officials' imports of contact points.

async def members_inside(conn: asyncpg.Connection, unit_id: str, member_ids: Sequence[str],
                         on: date) -> set[str]:
    """Those of the members whose unit on the date is the unit or one below it."""
    rows = await conn.fetch(
        f"""WITH RECURSIVE down (unit_id, depth) AS (
                SELECT $1::text, 0
                UNION ALL
                SELECT c.unit_id, down.depth + 1
                FROM down JOIN directory_units c
                     ON c.parent_id = down.unit_id AND c.valid @> $3::date
                WHERE down.depth < {MAX_DEPTH})
            SELECT m.member_id FROM directory_members m
            WHERE m.member_id = ANY($2::text[]) AND m.valid @> $3::date AND m.status = 'active'
              AND m.unit_id IN (SELECT unit_id FROM down)""",
        unit_id, list(member_ids), on)
    return {r[0] for r in rows}


async def import_contacts(conn: asyncpg.Connection,
                          contacts: Sequence[tuple[str, str | None, str | None]],
                          by: str) -> int:
    """Set each member's given contact points (None leaves one as kept) in one statement;
    returns how many rows changed."""
    if not contacts:
        return 0
    rows = await conn.fetch(
        """INSERT INTO member_contacts (member_id, email, phone, updated_by)
           SELECT m, e, p, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS x (m, e, p)
           ON CONFLICT (member_id) DO UPDATE SET
               email = coalesce(excluded.email, member_contacts.email),
               phone = coalesce(excluded.phone, member_contacts.phone),
               updated_at = now(), updated_by = excluded.updated_by
           WHERE (member_contacts.email, member_contacts.phone) IS DISTINCT FROM
                 (coalesce(excluded.email, member_contacts.email),
                  coalesce(excluded.phone, member_contacts.phone))
           RETURNING 1""",
        *_columns(contacts, 3), by)
    return len(rows)

"""The fan-out's writes, in the consumer batch's transaction: audiences resolved against the
directory, in-app messages, e-mails queued or held for the digest, webhook deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from contracts import CloudEvent
from contracts.codec import encode_event
from services.runtime.directory.queries import MAX_DEPTH
from services.runtime.vietnamese import vietnam_date

from .columns import columns
from .domain import Outgoing, webhook_delivery_id
from .triggers import Audience


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


class FanoutStore:
    """On the consumer batch's transaction."""

    _conn: asyncpg.Connection

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
            *columns(roots, 3), *columns(units, 3), *columns(named, 2))
        return [Recipient(*r.values()) for r in rows]

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
            *columns([(i.notification_id, i.recipient_id, i.template, i.subject, i.language,
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
               ON CONFLICT DO NOTHING RETURNING 1""", *columns(rows, 5))
        return len(new)


def anchor_unit(event: CloudEvent) -> str | None:
    """The unit an event is about, for matching subscriptions' district scope."""
    data = event.data
    for name in ("unit_id", "closed_by_unit_id", "organizer_unit_id"):
        value = getattr(data, name, None)
        if value:
            return value
    return None

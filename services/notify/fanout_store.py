"""The fan-out's writes, in the consumer batch's transaction: audiences resolved against the
directory, then (`fan_out`) in-app messages, their announcements, e-mails queued or held for
the digest, in one statement; webhook deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from contracts import CloudEvent
from contracts.codec import encode_event
from contracts.events.notifications import NotificationDelivered
from services.runtime.directory.queries import MAX_DEPTH
from services.runtime.outbox_wake import staged
from services.runtime.vietnamese import vietnam_date

from .columns import columns
from .directory_sql import holds_on
from .domain import webhook_delivery_id
from .fanout import Plan, Recipient
from .triggers import Audience

DELIVERED = NotificationDelivered.event_type


@dataclass(frozen=True)
class Written:
    """What a fan-out added (a redelivered event adds nothing)."""

    in_app: int = 0
    email: int = 0
    digest: int = 0


# One statement per batch: the plan's notices, e-mails and members as arrays; each table's rows
# an INSERT … SELECT joining them. `ON CONFLICT DO NOTHING` on the notification ids makes a
# redelivered event write nothing; only in-app messages new to the inbox are announced.
FAN_OUT = """
    WITH notices AS (
        SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::text[])
            AS n (idx, event_id, correlation_id, district, template, subject, body,
                  announcement)),
    mails AS (
        SELECT * FROM unnest($9::int[], $10::text[], $11::text[], $12::text[])
            AS m (idx, language, subject, body_id)),
    bodies AS (
        INSERT INTO message_bodies (body_id, text_body, html_body)
        SELECT DISTINCT ON (b.body_id) * FROM unnest($12::text[], $13::text[], $14::text[])
            AS b (body_id, text_body, html_body)
        ON CONFLICT DO NOTHING),
    reach AS (
        SELECT * FROM unnest($15::int[], $16::text[], $17::text[], $18::text[], $19::text[],
                             $20::boolean[])
            AS r (idx, member_id, in_app_id, email_id, language, digest)),
    in_app AS (
        INSERT INTO notifications (notification_id, recipient_id, recipient_kind, channel,
            template, subject, body, source_event_id, correlation_id)
        SELECT r.in_app_id, r.member_id, 'member', 'in_app', n.template, n.subject, n.body,
               n.event_id, n.correlation_id
        FROM reach r JOIN notices n ON n.idx = r.idx
        WHERE r.in_app_id IS NOT NULL
        ON CONFLICT DO NOTHING RETURNING notification_id, recipient_id),
    announced AS (
        INSERT INTO outbox (event_id, event_type, topic, partition_key, value, correlation_id,
                            traceparent)
        SELECT a.event_id, $24, $25, convert_to(a.recipient_id, 'UTF8'),
               convert_to(replace(replace(replace(a.announcement,
                   $21, to_json(a.event_id)::text), $22, to_json(a.recipient_id)::text),
                   $23, to_json(a.notification_id)::text), 'UTF8'),
               a.correlation_id, $26
        FROM (SELECT gen_random_uuid()::text AS event_id, i.recipient_id, i.notification_id,
                     n.announcement, n.correlation_id
              FROM in_app i JOIN reach r ON r.in_app_id = i.notification_id
                   JOIN notices n ON n.idx = r.idx) a
        RETURNING 1),
    emails AS (
        INSERT INTO deliveries (notification_id, recipient_id, recipient_kind, channel,
            template, language, subject, body_id, source_event_id, correlation_id, district,
            next_attempt_at)
        SELECT r.email_id, r.member_id, 'member', 'email', n.template, r.language, m.subject,
               m.body_id, n.event_id, n.correlation_id, n.district,
               quiet_until(now(), p.quiet_start, p.quiet_end)
        FROM reach r JOIN notices n ON n.idx = r.idx
             JOIN mails m ON m.idx = r.idx AND m.language = r.language
             LEFT JOIN member_preferences p ON p.member_id = r.member_id
        WHERE r.email_id IS NOT NULL AND NOT r.digest
        ON CONFLICT DO NOTHING RETURNING 1),
    held AS (
        INSERT INTO digest_items (notification_id, recipient_id, template, subject, language,
            source_event_id, correlation_id, district)
        SELECT r.email_id, r.member_id, n.template, m.subject, r.language, n.event_id,
               n.correlation_id, n.district
        FROM reach r JOIN notices n ON n.idx = r.idx
             JOIN mails m ON m.idx = r.idx AND m.language = r.language
        WHERE r.email_id IS NOT NULL AND r.digest
        ON CONFLICT DO NOTHING RETURNING 1)
    SELECT (SELECT count(*) FROM in_app) AS in_app, (SELECT count(*) FROM emails) AS email,
           (SELECT count(*) FROM held) AS digest,
           (SELECT count(*) FROM announced) AS announced"""


# Every member of each audience (by its index): the union officers of every unit under a root
# ($1-$3) and of listed units ($4-$6), as the directory stood on the audience's date, and named
# members ($7, $8); with how each may be reached.
AUDIENCES = f"""
    WITH RECURSIVE down (idx, unit_id, on_day, depth) AS (
        SELECT idx, unit_id, on_day, 0
        FROM unnest($1::int[], $2::text[], $3::date[]) AS r (idx, unit_id, on_day)
        UNION ALL
        SELECT down.idx, c.unit_id, down.on_day, down.depth + 1
        FROM down JOIN directory_units AS c
             ON c.parent_id = down.unit_id AND {holds_on("c.valid", "down.on_day")}
        WHERE down.depth < {MAX_DEPTH}),
    units AS (
        SELECT idx, unit_id, on_day FROM down
        UNION
        SELECT * FROM unnest($4::int[], $5::text[], $6::date[])),
    targets AS (
        SELECT u.idx, m.member_id
        FROM units u JOIN directory_members m
             ON m.unit_id = u.unit_id AND {holds_on("m.valid", "u.on_day")}
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
    ORDER BY t.idx, t.member_id"""


class FanoutStore:
    """On the consumer batch's transaction."""

    _conn: asyncpg.Connection

    async def fan_out(self, plan: Plan, traceparent: str | None) -> Written:
        """Write the plan in one statement; the in-app messages new to the inbox are announced
        through the outbox in the same statement (and the relay woken after the commit)."""
        if not plan.reach:
            return Written()
        s = plan.stand_ins
        row = await self._conn.fetchrow(
            FAN_OUT,
            *columns([(n.idx, n.event_id, n.correlation_id, n.district, n.template, n.subject,
                       n.body, n.announcement) for n in plan.notices], 8),
            *columns([(m.idx, m.language, m.subject, m.body_id) for m in plan.mails], 4),
            [m.text for m in plan.mails], [m.html for m in plan.mails],
            *columns([(r.idx, r.member_id, r.in_app_id, r.email_id, r.language, r.digest)
                      for r in plan.reach], 6),
            f'"{s.event_id}"', f'"{s.recipient_id}"', f'"{s.notification_id}"',
            DELIVERED, NotificationDelivered.topic.name, traceparent)
        if row["announced"]:
            staged()  # the pool's release, after the batch commits, wakes the relay
        return Written(row["in_app"], row["email"], row["digest"])

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
            AUDIENCES, *columns(roots, 3), *columns(units, 3), *columns(named, 2))
        return [Recipient(*r.values()) for r in rows]

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

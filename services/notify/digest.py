"""The daily e-mail digest: what was held in `digest_items` for members in digest mode becomes
one e-mail each, queued in `deliveries` for the e-mail worker (which paces it like any other).

A run takes the items held before its cutoff (the digest hour, Vietnam time) in batches of
`NOTIFY_DIGEST_BATCH_SIZE` members, walking member ids in order (keyset, no offset), one
transaction a batch: three statements — the next members, their items grouped by subject, the
digests inserted and the items marked — then a pause. Repeated subjects become one line with a
count; past `NOTIFY_DIGEST_MAX_ITEMS` lines the rest is a count and a link to the inbox. A
member with nothing held gets nothing: digests are built only from held items.

Each digest's id derives from (the run's day, the member): a rerun, a second replica or a
restart mid-run queues nothing twice (the insert skips an existing id; the items are marked in
the same transaction).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import asyncpg
import structlog

from services.runtime.vietnamese import VIETNAM

from . import domain, mail
from .queue import DIGESTS
from .settings import NotifySettings

log = structlog.get_logger()


@dataclass(frozen=True)
class Line:
    subject: str
    count: int


def last_cutoff(now: datetime, hour: int) -> datetime:
    """The latest digest moment (`hour` o'clock in Vietnam) at or before `now`."""
    local = now.astimezone(VIETNAM)
    moment = datetime.combine(local.date(), time(hour), VIETNAM)
    return moment if moment <= local else moment - timedelta(days=1)


def lines_of(groups: list[tuple[str, int]], cap: int) -> tuple[list[Line], int]:
    """Grouped subjects (in first-seen order) capped at `cap` lines; how many items are left
    out."""
    shown = [Line(subject, count) for subject, count in groups[:cap]]
    return shown, sum(count for _, count in groups[cap:])


class DigestBuilder:
    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings) -> None:
        self.pool = pool
        self.settings = settings

    async def run(self) -> None:
        """Catch up on the last digest moment, then wake for each next one."""
        hour = self.settings.digest_hour
        while True:
            try:
                await self.run_once(last_cutoff(datetime.now(VIETNAM), hour))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # marked items stay marked; the next run takes the rest
                log.warning("digest_run_failed", error=type(exc).__name__)
            now = datetime.now(VIETNAM)
            following = last_cutoff(now, hour) + timedelta(days=1)
            await asyncio.sleep(min(max((following - now).total_seconds(), 1), 3600))

    async def run_once(self, cutoff: datetime) -> int:
        """Digests for every item held before `cutoff`; returns how many were queued."""
        s = self.settings
        after, queued = "", 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                members = [r[0] for r in await conn.fetch(
                    """SELECT DISTINCT recipient_id FROM digest_items
                       WHERE digest_id IS NULL AND created_at < $1 AND recipient_id > $2
                       ORDER BY recipient_id LIMIT $3""", cutoff, after, s.digest_batch_size)]
                if not members:
                    break
                made = await self._batch(conn, members, cutoff)
            queued += made
            DIGESTS.inc(made)
            after = members[-1]
            log.info("digest_batch_queued", members=len(members), through=after)
            await asyncio.sleep(s.digest_batch_pause_ms / 1000)
        return queued

    async def _batch(self, conn: asyncpg.Connection, members: list[str],
                     cutoff: datetime) -> int:
        groups = await conn.fetch(
            """SELECT recipient_id, subject, count(*) AS n, min(created_at) AS first,
                      (array_agg(language ORDER BY created_at DESC))[1] AS language
               FROM digest_items
               WHERE recipient_id = ANY($1::text[]) AND digest_id IS NULL AND created_at < $2
               GROUP BY recipient_id, subject
               ORDER BY recipient_id, first, subject""", members, cutoff)
        by_member: dict[str, list] = {}
        for g in groups:
            by_member.setdefault(g["recipient_id"], []).append(g)
        day = cutoff.astimezone(VIETNAM).date()
        source = f"digest:{day.isoformat()}"
        rows = []
        for member_id, found in by_member.items():
            language = found[-1]["language"]
            lines, more = lines_of([(g["subject"], g["n"]) for g in found],
                                   self.settings.digest_max_items)
            text = mail.render("digest", language, {
                "day": day, "items": lines, "more": more,
                "total": sum(g["n"] for g in found), "inbox_url": self.settings.inbox_url})
            rows.append((domain.notification_id(source, member_id, "email"), member_id,
                         language, text.subject, text.text, text.html))
        if not rows:
            return 0
        ids, recipients, languages, subjects, texts, htmls = (list(c) for c in zip(*rows,
                                                                                    strict=True))
        new = await conn.fetch(
            """INSERT INTO deliveries (notification_id, recipient_id, recipient_kind, channel,
                   template, language, subject, text_body, html_body, source_event_id,
                   correlation_id, next_attempt_at)
               SELECT u.id, u.recipient_id, 'member', 'email', 'digest', u.language, u.subject,
                      u.text_body, u.html_body, $7, $7,
                      quiet_until(now(), p.quiet_start, p.quiet_end)
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                           $6::text[]) AS u (id, recipient_id, language, subject, text_body,
                                             html_body)
               LEFT JOIN member_preferences p ON p.member_id = u.recipient_id
               ON CONFLICT DO NOTHING RETURNING 1""",
            ids, recipients, languages, subjects, texts, htmls, source)
        await conn.execute(
            """UPDATE digest_items i SET digest_id = u.id
               FROM unnest($1::text[], $2::text[]) AS u (id, recipient_id)
               WHERE i.recipient_id = u.recipient_id AND i.digest_id IS NULL
                 AND i.created_at < $3""", ids, recipients, cutoff)
        return len(new)


async def run_digests(runtime) -> None:
    """The worker task the runtime starts beside the consumer (`ServiceDefinition.workers`)."""
    await DigestBuilder(runtime.pool, runtime.definition.settings).run()

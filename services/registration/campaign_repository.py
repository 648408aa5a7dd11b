"""Campaigns' SQL: the launch with its phases and event in one transaction, the phase lock every
command takes, and the campaign pages callers read."""

from __future__ import annotations

import json
from collections import OrderedDict

import asyncpg

from contracts import CloudEvent
from contracts.events.campaigns import CampaignLaunched
from services.runtime import outbox

from .campaign_domain import CampaignExists, CampaignReach, PhaseDates

_INSERT_CAMPAIGN = """
    INSERT INTO campaigns (campaign_id, organizer_unit_id, year, theme, movements, scoring,
                           awards, launched_at, event_id, launched_by)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8, $9, $10::jsonb)
    ON CONFLICT DO NOTHING RETURNING true"""
_INSERT_PHASES = """
    INSERT INTO campaign_phases (campaign_id, phase_id, position, name, starts_on, ends_on, kind,
                                 theme, occasion)
    SELECT $1, * FROM unnest($2::text[], $3::int[], $4::text[], $5::date[], $6::date[],
                             $7::text[], $8::text[], $9::text[])"""
_PHASES = """SELECT campaign_id, phase_id, name, starts_on, ends_on, kind, theme, occasion,
                    closed_at, closed_by, close_event_id, accepted_counts
             FROM campaign_phases WHERE campaign_id = ANY($1::text[])
             ORDER BY campaign_id, position"""
_REACH = """SELECT c.campaign_id, c.organizer_unit_id, c.year,
                   array_agg(p.phase_id ORDER BY p.position) AS phase_ids,
                   array_agg(p.name ORDER BY p.position) AS names,
                   array_agg(p.starts_on ORDER BY p.position) AS starts,
                   array_agg(p.ends_on ORDER BY p.position) AS ends
            FROM campaigns AS c JOIN campaign_phases AS p USING (campaign_id)
            WHERE c.campaign_id = $1 GROUP BY c.campaign_id"""
_LOCK_PHASE = """SELECT closed_at IS NOT NULL FROM campaign_phases
                 WHERE campaign_id = $1 AND phase_id = $2 FOR KEY SHARE"""
_PAGE = """SELECT campaign_id, organizer_unit_id, year, theme, movements, scoring, awards,
                  launched_at, event_id, launched_by
           FROM campaigns
           WHERE ($1::int IS NULL OR year = $1) AND ($2::text IS NULL OR organizer_unit_id = $2)
             AND ($3::text[] IS NULL OR organizer_unit_id = ANY($3::text[]))
             AND campaign_id > $4
           ORDER BY campaign_id LIMIT $5"""


async def record_launch(conn: asyncpg.Connection, event: CloudEvent[CampaignLaunched]) -> None:
    c = event.data
    if not await conn.fetchval(
            _INSERT_CAMPAIGN, c.campaign_id, c.organizer_unit_id, c.year, c.theme,
            json.dumps(c.movements, ensure_ascii=False), c.scoring.model_dump_json(),
            c.awards.model_dump_json(), c.launched_at, event.id, c.actor.model_dump_json()):
        raise CampaignExists(c.campaign_id)
    p = c.phases
    await conn.execute(
        _INSERT_PHASES, c.campaign_id, [x.phase_id for x in p], list(range(len(p))),
        [x.name for x in p], [x.starts_on for x in p], [x.ends_on for x in p],
        [x.kind for x in p], [x.theme for x in p], [x.occasion for x in p])
    await outbox.enqueue(conn, [event])


async def lock_phase(conn: asyncpg.Connection, campaign_id: str, phase_id: str) -> bool | None:
    """Lock the phase against its close until the transaction ends; whether it is closed (None
    when unknown). The close locks it FOR UPDATE, so it waits for every command holding it."""
    return await conn.fetchval(_LOCK_PHASE, campaign_id, phase_id)


class Campaigns:
    """Each campaign's organiser and phase dates, which never change once launched: cached
    (bounded), so a command's checks cost no round trip once its campaign was seen."""

    def __init__(self, pool: asyncpg.Pool, size: int = 1024) -> None:
        self._pool = pool
        self._size = size
        self._cache: OrderedDict[str, CampaignReach] = OrderedDict()

    def reads(self, pool: asyncpg.Pool) -> bool:
        return self._pool is pool

    async def reach(self, campaign_id: str) -> CampaignReach | None:
        found = self._cache.get(campaign_id)
        if found is not None:
            self._cache.move_to_end(campaign_id)
            return found
        row = await self._pool.fetchrow(_REACH, campaign_id)
        if row is None:
            return None
        found = CampaignReach(
            row["campaign_id"], row["organizer_unit_id"], row["year"],
            {pid: PhaseDates(pid, name, start, end) for pid, name, start, end in
             zip(row["phase_ids"], row["names"], row["starts"], row["ends"], strict=True)})
        self._cache[campaign_id] = found
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return found


def _campaign(row: asyncpg.Record, phases: list[dict]) -> dict:
    out = dict(row)
    for name in ("movements", "scoring", "awards", "launched_by"):
        out[name] = json.loads(out[name])
    out["phases"] = phases
    return out


async def page(pool: asyncpg.Pool, *, year: int | None, organizer: str | None,
               among: list[str] | None, after: str, limit: int) -> list[dict]:
    rows = await pool.fetch(_PAGE, year, organizer, among, after, limit)
    return await _with_phases(pool, rows)


async def find(pool: asyncpg.Pool, campaign_id: str) -> dict | None:
    rows = await pool.fetch(_PAGE.replace("campaign_id > $4", "campaign_id = $4"),
                            None, None, None, campaign_id, 1)
    found = await _with_phases(pool, rows)
    return found[0] if found else None


async def _with_phases(pool: asyncpg.Pool, rows: list[asyncpg.Record]) -> list[dict]:
    phases: dict[str, list[dict]] = {r["campaign_id"]: [] for r in rows}
    for p in await pool.fetch(_PHASES, list(phases)):
        phase = dict(p)
        phase["status"] = "closed" if phase["closed_at"] else "open"
        for name in ("closed_by", "accepted_counts"):
            phase[name] = json.loads(phase[name]) if phase[name] else None
        phases[phase.pop("campaign_id")].append(phase)
    return [_campaign(r, phases[r["campaign_id"]]) for r in rows]

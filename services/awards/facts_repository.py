"""Facts awards keeps from other services' events: campaigns' rule sets, initiatives' authors
and the highest level at which each was accepted. One statement per batch each."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from contracts.events.campaigns import CampaignLaunched
from contracts.events.initiatives import InitiativeReviewed, InitiativeSubmitted
from contracts.events.rules import AwardRules

from .candidates import LEVEL_RANK


async def record_campaigns(conn: asyncpg.Connection, launched: Sequence[CampaignLaunched]) -> None:
    latest = {c.campaign_id: c for c in launched}  # a statement cannot touch a row twice
    if not latest:
        return
    cs = list(latest.values())
    await conn.execute(
        """INSERT INTO campaigns (campaign_id, organizer_unit_id, year, awards, unit_score_basis)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[], $5::text[])
           ON CONFLICT (campaign_id) DO UPDATE
             SET organizer_unit_id = EXCLUDED.organizer_unit_id, year = EXCLUDED.year,
                 awards = EXCLUDED.awards, unit_score_basis = EXCLUDED.unit_score_basis""",
        [c.campaign_id for c in cs], [c.organizer_unit_id for c in cs], [c.year for c in cs],
        [c.awards.model_dump_json() for c in cs], [c.scoring.unit_score_basis for c in cs])


async def rule_sets(conn: asyncpg.Connection | asyncpg.Pool, campaign_ids: set[str]) -> dict[str, AwardRules]:
    """The award rule sets of these campaigns, as launched (absent: launch not seen yet)."""
    rows = await conn.fetch(
        "SELECT campaign_id, awards::text FROM campaigns WHERE campaign_id = ANY($1::text[])",
        list(campaign_ids))
    return {r[0]: AwardRules.model_validate_json(r[1]) for r in rows}


async def record_authors(conn: asyncpg.Connection, submitted: Sequence[InitiativeSubmitted]) -> None:
    latest = {s.initiative_id: s for s in submitted}
    if not latest:
        return
    ss = list(latest.values())
    await conn.execute(
        """INSERT INTO initiatives AS i (initiative_id, campaign_id, phase_id, unit_id, author_ids)
           SELECT id, c, p, u, string_to_array(a, ' ')
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                AS x(id, c, p, u, a)
           ON CONFLICT (initiative_id) DO UPDATE SET author_ids = EXCLUDED.author_ids""",
        [s.initiative_id for s in ss], [s.campaign_id for s in ss], [s.phase_id for s in ss],
        [s.unit_id for s in ss], [" ".join(a.member_id for a in s.authors) for s in ss])


async def record_reviews(conn: asyncpg.Connection, accepted: Sequence[InitiativeReviewed]) -> None:
    """Keep the highest level each initiative was accepted at, with that review's benefit."""
    best: dict[str, InitiativeReviewed] = {}
    for r in accepted:
        seen = best.get(r.initiative_id)
        if seen is None or LEVEL_RANK[r.level] >= LEVEL_RANK[seen.level]:
            best[r.initiative_id] = r
    if not best:
        return
    rs = list(best.values())
    await conn.execute(
        """INSERT INTO initiatives AS i (initiative_id, campaign_id, phase_id, unit_id,
                                         accepted_level, level_rank, recognised_benefit_vnd)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::int[], $7::bigint[])
           ON CONFLICT (initiative_id) DO UPDATE
             SET accepted_level = EXCLUDED.accepted_level, level_rank = EXCLUDED.level_rank,
                 recognised_benefit_vnd = EXCLUDED.recognised_benefit_vnd
             WHERE EXCLUDED.level_rank >= i.level_rank""",
        [r.initiative_id for r in rs], [r.campaign_id for r in rs], [r.phase_id for r in rs],
        [r.unit_id for r in rs], [r.level for r in rs], [LEVEL_RANK[r.level] for r in rs],
        [r.recognised_benefit_vnd for r in rs])

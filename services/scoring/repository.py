"""Scoring's writes, run inside the consumer's batch transaction: one statement per step.

Events become facts (`facts.py`); `reprice` then derives, for the facts a batch touched, what
each earns each subject under its campaign's rules (`points.py`), compares it with what they
earned before, and writes the differences as ledger lines and into the subjects' totals, all
in one statement. The phase barrier's statements are in `barrier.py`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from .barrier import PhaseBarrier
from .batch_work import BatchWork
from .fact_statements import REFRESH_INITIATIVE_FACTS, REPRICE, UPSERT_FACTS
from .facts import Fact, Review, Submission
from .points import DEFAULTS_JSON


@dataclass(frozen=True)
class SubjectChange:
    """A subject whose total a batch changed: summed delta, new total and version, and the
    rule and event of its last ledger line."""

    campaign_id: str
    phase_id: str
    subject_kind: str
    subject_id: str
    unit_id: str
    points_delta: Decimal
    total_points: Decimal
    version: int
    reason: str
    source_event_id: str


class ScoringRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.barrier = PhaseBarrier(conn)
        # What this batch brings (the repository lives for one batch attempt).
        self.work = BatchWork()

    async def keep_campaign_rules(
        self, campaigns: Sequence[tuple[str, str, str, object, str, int]]
    ) -> None:
        """Keep each campaign's scoring rules and phases (campaign id, rules JSON, phases JSON,
        launched at, organizer, year), one upsert for the batch; a later launch of a campaign
        replaces an earlier one, a redelivered or older one changes nothing."""
        if not campaigns:
            return
        await self._conn.execute(
            """INSERT INTO campaign_rules (campaign_id, scoring, phases, launched_at,
                                           organizer_unit_id, year)
               SELECT DISTINCT ON (c) c, s::jsonb, p::jsonb, l, o, y
               FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
                           $6::integer[]) AS t(c, s, p, l, o, y)
               ORDER BY c, l DESC
               ON CONFLICT (campaign_id) DO UPDATE
                 SET scoring = EXCLUDED.scoring, phases = EXCLUDED.phases,
                     launched_at = EXCLUDED.launched_at, updated_at = now(),
                     organizer_unit_id = EXCLUDED.organizer_unit_id, year = EXCLUDED.year
                 WHERE campaign_rules.launched_at <= EXCLUDED.launched_at""",
            *(list(column) for column in zip(*campaigns, strict=True)),
        )

    async def open_facts_of(self, campaign_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """The facts (id, campaign, phase) of those campaigns in phases not finalized: what a
        rule change reprices."""
        rows = await self._conn.fetch(
            """SELECT f.fact_id, f.campaign_id, f.phase_id FROM facts AS f
               LEFT JOIN phases AS p USING (campaign_id, phase_id)
               WHERE f.campaign_id = ANY($1::text[]) AND p.finalized_at IS NULL""",
            sorted(set(campaign_ids)),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def record_facts(self, facts: Sequence[Fact]) -> None:
        if not facts:
            return
        await self._conn.execute(
            UPSERT_FACTS,
            [f.fact_id for f in facts], [f.rule for f in facts], [f.campaign_id for f in facts],
            [f.phase_id for f in facts], [f.unit_id for f in facts], [f.district for f in facts],
            [f.credit_unit for f in facts], [json.dumps(list(f.member_ids)) for f in facts],
            [f.level for f in facts], [f.grade for f in facts], [f.benefit_vnd for f in facts],
            [f.target_value for f in facts], [f.achieved_value for f in facts],
            [f.source_event_id for f in facts], [f.occurred_at for f in facts],
        )

    async def record_submissions(self, submissions: Sequence[Submission]) -> None:
        """Keep each submission's authors and claimed benefit (a redelivery changes nothing)."""
        if not submissions:
            return
        await self._conn.execute(
            """INSERT INTO initiatives (initiative_id, campaign_id, phase_id, unit_id, author_ids,
                                        claimed_benefit_vnd, source_event_id, submitted_at)
               SELECT i, c, p, u, ARRAY(SELECT jsonb_array_elements_text(a::jsonb)), b, e, s
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                           $6::bigint[], $7::text[], $8::timestamptz[])
                    AS t(i, c, p, u, a, b, e, s)
               ON CONFLICT (initiative_id) DO NOTHING""",
            [s.initiative_id for s in submissions], [s.campaign_id for s in submissions],
            [s.phase_id for s in submissions], [s.unit_id for s in submissions],
            [json.dumps(list(s.author_ids)) for s in submissions],
            [s.claimed_benefit_vnd for s in submissions],
            [s.source_event_id for s in submissions], [s.submitted_at for s in submissions],
        )

    async def record_reviews(self, reviews: Sequence[Review]) -> None:
        """Keep each council's latest decision per initiative and level."""
        if not reviews:
            return
        latest: dict[tuple[str, str], Review] = {}
        for r in reviews:
            held = latest.get((r.initiative_id, r.level))
            if held is None or r.reviewed_at >= held.reviewed_at:
                latest[(r.initiative_id, r.level)] = r
        rows = list(latest.values())
        await self._conn.execute(
            """INSERT INTO initiative_reviews AS r (
                   initiative_id, level, level_rank, outcome, grade, recognised_benefit_vnd,
                   campaign_id, phase_id, unit_id, district, source_event_id, reviewed_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[],
                                    $5::text[], $6::bigint[], $7::text[], $8::text[],
                                    $9::text[], $10::text[], $11::text[], $12::timestamptz[])
               ON CONFLICT (initiative_id, level) DO UPDATE
                  SET outcome = EXCLUDED.outcome, grade = EXCLUDED.grade,
                      recognised_benefit_vnd = EXCLUDED.recognised_benefit_vnd,
                      campaign_id = EXCLUDED.campaign_id, phase_id = EXCLUDED.phase_id,
                      district = EXCLUDED.district, source_event_id = EXCLUDED.source_event_id,
                      reviewed_at = EXCLUDED.reviewed_at
                  WHERE EXCLUDED.reviewed_at >= r.reviewed_at""",
            [r.initiative_id for r in rows], [r.level for r in rows],
            [r.level_rank for r in rows], [r.outcome for r in rows], [r.grade for r in rows],
            [r.recognised_benefit_vnd for r in rows], [r.campaign_id for r in rows],
            [r.phase_id for r in rows], [r.unit_id for r in rows], [r.district for r in rows],
            [r.source_event_id for r in rows], [r.reviewed_at for r in rows],
        )

    async def refresh_initiative_facts(self, initiative_ids: Sequence[str]) -> list[str]:
        """Rebuild the review facts of those initiatives that have a review; their fact ids."""
        ids = sorted(set(initiative_ids))
        if not ids:
            return []
        await self._conn.execute(REFRESH_INITIATIVE_FACTS, ids)
        return [f"initiative:{i}" for i in ids]

    async def reprice(self, fact_ids: Sequence[str],
                      cause_event_id: str | None = None) -> list[SubjectChange]:
        """Price the facts under their campaigns' rules; write what changed; return each subject
        whose total changed, in the order the facts (then their subjects) first credit them."""
        if not fact_ids:
            return []
        rows = await self._conn.fetch(REPRICE, list(dict.fromkeys(fact_ids)), DEFAULTS_JSON,
                                      cause_event_id)
        return [SubjectChange(**dict(r)) for r in rows]

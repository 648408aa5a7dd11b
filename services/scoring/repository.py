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
from .facts import Fact, Review, Submission
from .points import DEFAULTS_JSON, campaign_rules_of, points_of, prices


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


_FACT_COLUMNS = ("fact_id", "rule", "campaign_id", "phase_id", "unit_id", "district",
                 "credit_unit", "member_ids", "level", "grade", "benefit_vnd", "target_value",
                 "achieved_value", "source_event_id", "occurred_at")
_FACT_TYPES = ("text", "text", "text", "text", "text", "text", "boolean", "text", "text",
               "text", "bigint", "numeric", "numeric", "text", "timestamptz")

# A pledged target (`pledge_target_pending`) only sets the target value of a fact a result
# report reached first; any other state replaces an older one.
_PLEDGED = "(EXCLUDED.rule = 'pledge_target_pending')"
UPSERT_FACTS = f"""
    INSERT INTO facts AS f ({", ".join(_FACT_COLUMNS)})
    SELECT i.fact_id, i.rule, i.campaign_id, i.phase_id, i.unit_id, i.district, i.credit_unit,
           -- unnest flattens arrays of arrays, so each fact's members travel as a JSON array
           ARRAY(SELECT jsonb_array_elements_text(i.member_ids::jsonb)),
           i.level, i.grade, i.benefit_vnd, i.target_value, i.achieved_value,
           i.source_event_id, i.occurred_at
    FROM unnest({", ".join(f"${n}::{t}[]" for n, t in enumerate(_FACT_TYPES, start=1))})
         AS i({", ".join(_FACT_COLUMNS)})
    ON CONFLICT (fact_id) DO UPDATE SET
        rule = CASE WHEN {_PLEDGED} THEN f.rule ELSE EXCLUDED.rule END,
        target_value = coalesce(EXCLUDED.target_value, f.target_value),
        achieved_value = CASE WHEN {_PLEDGED} THEN f.achieved_value
                              ELSE EXCLUDED.achieved_value END,
        source_event_id = CASE WHEN {_PLEDGED} THEN f.source_event_id
                               ELSE EXCLUDED.source_event_id END,
        occurred_at = CASE WHEN {_PLEDGED} THEN f.occurred_at ELSE EXCLUDED.occurred_at END,
        district = EXCLUDED.district, member_ids = EXCLUDED.member_ids,
        level = EXCLUDED.level, grade = EXCLUDED.grade, benefit_vnd = EXCLUDED.benefit_vnd
    WHERE {_PLEDGED} OR f.rule = 'pledge_target_pending' OR EXCLUDED.occurred_at >= f.occurred_at
"""

# The fact of an initiative's review: the accepted decision of the highest level (a district
# acceptance replaces the grassroots one's points), else the latest rejection; credited to
# its unit and to every author of its submission (none until the submission is seen).
REFRESH_INITIATIVE_FACTS = """
    INSERT INTO facts AS f (fact_id, rule, campaign_id, phase_id, unit_id, district, credit_unit,
                            member_ids, level, grade, benefit_vnd, source_event_id, occurred_at)
    SELECT 'initiative:' || r.initiative_id,
           CASE WHEN r.outcome = 'accepted' THEN 'initiative_accepted'
                ELSE 'initiative_rejected' END,
           r.campaign_id, r.phase_id, r.unit_id, r.district, true,
           coalesce(i.author_ids, '{}'), r.level, r.grade, r.recognised_benefit_vnd,
           r.source_event_id, r.reviewed_at
    FROM (SELECT DISTINCT ON (initiative_id) *
          FROM initiative_reviews WHERE initiative_id = ANY($1::text[])
          ORDER BY initiative_id, outcome = 'accepted' DESC, level_rank DESC,
                   reviewed_at DESC) AS r
    LEFT JOIN initiatives AS i USING (initiative_id)
    ON CONFLICT (fact_id) DO UPDATE SET
        rule = EXCLUDED.rule, campaign_id = EXCLUDED.campaign_id, phase_id = EXCLUDED.phase_id,
        district = EXCLUDED.district, member_ids = EXCLUDED.member_ids,
        level = EXCLUDED.level, grade = EXCLUDED.grade, benefit_vnd = EXCLUDED.benefit_vnd,
        source_event_id = EXCLUDED.source_event_id, occurred_at = EXCLUDED.occurred_at
    WHERE (f.rule, f.member_ids, f.level, f.grade, f.benefit_vnd, f.source_event_id)
          IS DISTINCT FROM (EXCLUDED.rule, EXCLUDED.member_ids, EXCLUDED.level, EXCLUDED.grade,
                            EXCLUDED.benefit_vnd, EXCLUDED.source_event_id)
"""

# What the touched facts earn now against what they earned: the differences become ledger
# lines (caused by the fact's event, or by $3 when given: a campaign's rules arriving) and
# are added to the subjects' totals, each subject's version going up by its lines. A fact
# keeps what it earns and whom it credited when last priced (`points`, `priced_*`), the same
# amount for each of its subjects.
REPRICE = f"""
WITH touched AS MATERIALIZED (
    -- a primary-key probe per fact, never a pass over the table: OFFSET 0 keeps the planner
    -- from flattening the probe into a join it may cost as a scan while statistics lag
    SELECT f.*, o.n AS fact_order
    FROM unnest($1::text[]) WITH ORDINALITY AS o(fact_id, n)
    CROSS JOIN LATERAL (SELECT * FROM facts WHERE facts.fact_id = o.fact_id OFFSET 0) AS f
), priced AS MATERIALIZED (  -- each touched campaign's prices, once
    SELECT c.campaign_id, {prices(campaign_rules_of("cr", "$2"))}
    FROM (SELECT DISTINCT campaign_id FROM touched) AS c
    LEFT JOIN campaign_rules AS cr USING (campaign_id)
), repriced AS MATERIALIZED (
    SELECT t.*, {points_of("t", "pr")} AS new_points
    FROM touched AS t JOIN priced AS pr USING (campaign_id)
), fresh AS (
    SELECT r.fact_id, c.subject_kind, c.subject_id, r.campaign_id, r.phase_id, r.unit_id,
           r.district, r.rule, r.source_event_id, r.fact_order, c.position,
           r.new_points AS points
    FROM repriced AS r
    CROSS JOIN LATERAL (SELECT 'unit', r.unit_id, 0::bigint WHERE r.credit_unit
                        UNION ALL
                        SELECT 'member', m, n FROM unnest(r.member_ids) WITH ORDINALITY AS a(m, n))
         AS c(subject_kind, subject_id, position)
), known AS (  -- what they earned, and whom, when last priced
    SELECT r.fact_id, k.subject_kind, k.subject_id, r.priced_rule AS rule, r.points
    FROM repriced AS r
    CROSS JOIN LATERAL (SELECT 'unit', r.unit_id WHERE r.priced_unit
                        UNION ALL
                        SELECT 'member', m FROM unnest(r.priced_members) AS m)
         AS k(subject_kind, subject_id)
    WHERE r.points IS NOT NULL
), diff AS (
    SELECT n.fact_id, n.subject_kind, n.subject_id, n.campaign_id, n.phase_id, n.unit_id,
           n.district, n.rule, n.source_event_id, n.points, n.fact_order, n.position,
           n.points - coalesce(k.points, 0) AS delta
    FROM fresh AS n
    LEFT JOIN known AS k USING (fact_id, subject_kind, subject_id)
), kept AS (  -- in place: these columns are in no index
    UPDATE facts AS f
    SET priced_rule = r.rule, points = r.new_points, priced_unit = r.credit_unit,
        priced_members = r.member_ids
    FROM repriced AS r
    WHERE f.fact_id = ANY($1::text[]) AND f.fact_id = r.fact_id
      AND (f.priced_rule, f.points, f.priced_unit, f.priced_members)
          IS DISTINCT FROM (r.rule, r.new_points, r.credit_unit, r.member_ids)
), ordered AS MATERIALIZED (  -- the ledger lines, in the order they are written
    SELECT d.*, row_number() OVER (ORDER BY d.fact_order, d.position) AS line
    FROM diff AS d WHERE d.delta <> 0
), lines AS (
    INSERT INTO score_entries (campaign_id, phase_id, subject_kind, subject_id, points, reason,
                               source_event_id, fact_id)
    SELECT campaign_id, phase_id, subject_kind, subject_id, delta, rule,
           coalesce($3::text, source_event_id), fact_id
    FROM ordered ORDER BY line
), per_subject AS (  -- from the lines as written, not read back from the insert
    SELECT campaign_id, phase_id, subject_kind, subject_id,
           sum(delta) AS delta, count(*) AS changes, min(line) AS first_line,
           (array_agg(unit_id ORDER BY line DESC))[1] AS unit_id,
           (array_agg(district ORDER BY line DESC))[1] AS district,
           (array_agg(rule ORDER BY line DESC))[1] AS reason,
           (array_agg(coalesce($3::text, source_event_id) ORDER BY line DESC))[1]
               AS source_event_id
    FROM ordered
    GROUP BY campaign_id, phase_id, subject_kind, subject_id
), totals AS (
    INSERT INTO scores AS s (campaign_id, phase_id, subject_kind, subject_id, unit_id, district,
                             total_points, version)
    SELECT campaign_id, phase_id, subject_kind, subject_id, unit_id, district, delta, changes
    FROM per_subject
    ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id) DO UPDATE
       SET total_points = s.total_points + EXCLUDED.total_points,
           version = s.version + EXCLUDED.version,
           unit_id = EXCLUDED.unit_id, district = EXCLUDED.district, updated_at = now()
    RETURNING campaign_id, phase_id, subject_kind, subject_id, total_points, version
)
SELECT t.campaign_id, t.phase_id, t.subject_kind, t.subject_id, p.unit_id,
       p.delta AS points_delta, t.total_points, t.version, p.reason, p.source_event_id
FROM totals AS t JOIN per_subject AS p USING (campaign_id, phase_id, subject_kind, subject_id)
ORDER BY p.first_line
"""


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

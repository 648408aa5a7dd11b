"""Scoring's writes, run inside the consumer's batch transaction: one statement per step.

Events become facts (`facts.py`); `reprice` then derives, for the facts a batch touched, what
each earns each subject under its campaign's rules (`points.py`), compares it with what they
earned before, and writes the differences as ledger lines and into the subjects' totals, all
in one statement. The phase barrier's statements are in `barrier.py`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from .barrier import PhaseBarrier
from .batch_work import BatchWork
from .fact_statements import RECORD_BATCH, REPRICE, UPSERT_FACTS
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

    async def record(self, submissions: Sequence[Submission], reviews: Sequence[Review],
                     facts: Sequence[Fact], initiative_ids: Sequence[str]) -> list[str]:
        """Keep the batch's submissions (a redelivery changes nothing), each council's latest
        decision per initiative and level, the facts' states, and rebuild the review facts of
        `initiative_ids` that have a review, in one statement; the initiative facts' ids. A
        fact id comes at most once (`facts.latest_per_fact`)."""
        ids = sorted(set(initiative_ids))
        if submissions or reviews or facts or ids:
            await self._conn.execute(RECORD_BATCH, *_fact_columns(facts),
                                     *_submission_columns(submissions),
                                     *_review_columns(_latest_reviews(reviews)), ids)
        return [f"initiative:{i}" for i in ids]

    async def follow(self, facts: Sequence[Fact]) -> None:
        """Write facts that must follow the batch's record: results of targets pledged in the
        same batch (one statement cannot change a row twice)."""
        if facts:
            await self._conn.execute(UPSERT_FACTS, *_fact_columns(facts))

    async def reprice(self, fact_ids: Sequence[str], cause_event_id: str | None = None,
                      counts: Counter[tuple[str, str, str]] | None = None,
                      announced_counter: str | None = None) -> list[SubjectChange]:
        """Price the facts under their campaigns' rules; write what changed; return each subject
        whose total changed, in the order the facts (then their subjects) first credit them.

        With `counts`, the same statement appends them to the phases' counts, and with
        `announced_counter` also, under that counter, the subjects returned per phase."""
        keys = [k for k, n in (counts or {}).items() if n]
        rows = await self._conn.fetch(
            REPRICE, list(dict.fromkeys(fact_ids)), DEFAULTS_JSON, cause_event_id,
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            [counts[k] for k in keys] if counts else [], announced_counter)
        return [SubjectChange(**dict(r)) for r in rows]


def _fact_columns(facts: Sequence[Fact]) -> list[list]:
    return [
        [f.fact_id for f in facts], [f.rule for f in facts], [f.campaign_id for f in facts],
        [f.phase_id for f in facts], [f.unit_id for f in facts], [f.district for f in facts],
        [f.credit_unit for f in facts], [json.dumps(list(f.member_ids)) for f in facts],
        [f.level for f in facts], [f.grade for f in facts], [f.benefit_vnd for f in facts],
        [f.target_value for f in facts], [f.achieved_value for f in facts],
        [f.source_event_id for f in facts], [f.occurred_at for f in facts],
    ]


def _submission_columns(submissions: Sequence[Submission]) -> list[list]:
    s = submissions
    return [
        [x.initiative_id for x in s], [x.campaign_id for x in s], [x.phase_id for x in s],
        [x.unit_id for x in s], [json.dumps(list(x.author_ids)) for x in s],
        [x.claimed_benefit_vnd for x in s], [x.source_event_id for x in s],
        [x.submitted_at for x in s],
    ]


def _latest_reviews(reviews: Sequence[Review]) -> list[Review]:
    """Each council's latest decision per initiative and level: one row each for the upsert."""
    latest: dict[tuple[str, str], Review] = {}
    for r in reviews:
        held = latest.get((r.initiative_id, r.level))
        if held is None or r.reviewed_at >= held.reviewed_at:
            latest[(r.initiative_id, r.level)] = r
    return list(latest.values())


def _review_columns(rows: Sequence[Review]) -> list[list]:
    return [
        [r.initiative_id for r in rows], [r.level for r in rows], [r.level_rank for r in rows],
        [r.outcome for r in rows], [r.grade for r in rows],
        [r.recognised_benefit_vnd for r in rows], [r.campaign_id for r in rows],
        [r.phase_id for r in rows], [r.unit_id for r in rows], [r.district for r in rows],
        [r.source_event_id for r in rows], [r.reviewed_at for r in rows],
    ]

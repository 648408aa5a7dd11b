"""Scoring's reads for the HTTP API: totals, the breakdown, standings, what-if, initiative
totals, a phase's barrier and its late events. Every query is one statement; what-if runs in
a read-only transaction, so it cannot touch live data."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from contracts.events.rules import ScoringRules
from services.runtime.idempotency import RETENTION, KeptAnswer

from . import standings as sql


async def scores_of_unit(pool: asyncpg.Pool, unit_id: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT campaign_id, phase_id, subject_kind, subject_id, total_points
           FROM scores WHERE unit_id = $1 ORDER BY campaign_id, phase_id, subject_kind, subject_id""",
        unit_id,
    )
    return [dict(r) for r in rows]


async def entries_of(pool: asyncpg.Pool, subject_kind: str, subject_id: str, after: int,
                     limit: int) -> list[dict]:
    """The ledger lines behind a subject's totals, oldest first, from after the cursor on:
    the stored changes, and the first pricings their facts keep (the `score_entries` view,
    written out so that a member's facts are found through `facts_by_member`)."""
    credits = ("f.unit_id = $2 AND CASE WHEN f.first_rule IS NULL THEN f.priced_unit"
               " ELSE f.first_unit END" if subject_kind == "unit"
               else "f.member_ids @> ARRAY[$2::text] AND $2 = ANY(CASE WHEN f.first_rule IS NULL"
               " THEN f.priced_members ELSE f.first_members END)")
    rows = await pool.fetch(
        f"""SELECT entry_id, campaign_id, phase_id, points, reason, source_event_id, recorded_at,
                   fact_id
            FROM ledger_changes
            WHERE subject_kind = $1 AND subject_id = $2 AND entry_id > $3
            UNION ALL
            SELECT f.first_entry_id, f.campaign_id, f.phase_id,
                   CASE WHEN f.first_rule IS NULL THEN f.points ELSE f.first_points END,
                   coalesce(f.first_rule, f.priced_rule), f.first_source_event_id,
                   f.first_recorded_at, f.fact_id
            FROM facts AS f
            WHERE {credits} AND f.first_entry_id > $3
            ORDER BY entry_id LIMIT $4""",
        subject_kind, subject_id, after, limit,
    )
    return [dict(r) for r in rows]


async def breakdown_of(pool: asyncpg.Pool, subject_kind: str, subject_id: str,
                       campaign_id: str | None, phase_id: str | None, after: str,
                       limit: int) -> list[dict]:
    """Every fact behind a subject's totals with the points it earns now and the rule."""
    # A unit's facts by unit (facts_by_unit), a member's through the members a fact credits
    # (facts_by_member); each fact keeps whom it was last priced for.
    credits = ("f.unit_id = $1 AND f.priced_unit" if subject_kind == "unit"
               else "f.member_ids @> ARRAY[$1::text] AND $1 = ANY(f.priced_members)")
    rows = await pool.fetch(
        f"""SELECT f.fact_id, f.campaign_id, f.phase_id, f.priced_rule AS rule, f.points,
                   f.unit_id, f.level, f.grade, f.benefit_vnd, f.target_value, f.achieved_value,
                   f.source_event_id, f.occurred_at
            FROM facts AS f
            WHERE {credits} AND f.points IS NOT NULL
              AND ($2::text IS NULL OR f.campaign_id = $2)
              AND ($3::text IS NULL OR f.phase_id = $3)
              AND f.fact_id > $4
            ORDER BY f.fact_id LIMIT $5""",
        subject_id, campaign_id, phase_id, after, limit,
    )
    return [dict(r) for r in rows]


async def cluster_organizer(pool: asyncpg.Pool, cluster_id: str) -> str | None:
    """The unit that organizes the cluster, from the directory every service keeps."""
    return await pool.fetchval(
        "SELECT organizer_unit_id FROM directory_clusters WHERE cluster_id = $1", cluster_id)


async def campaign_of(pool: asyncpg.Pool, campaign_id: str) -> dict | None:
    """The campaign's organizer, year, rule set (defaults merged) and phase ids, if launched."""
    row = await pool.fetchrow(
        """SELECT organizer_unit_id, year, scoring::text AS scoring,
                  ARRAY(SELECT p->>'phase_id' FROM jsonb_array_elements(phases) AS p) AS phases
           FROM campaign_rules WHERE campaign_id = $1""", campaign_id)
    return dict(row) if row else None


def live_rules(campaign: dict | None) -> ScoringRules:
    return ScoringRules.model_validate_json(campaign["scoring"]) if campaign else ScoringRules()


def _statement(subject: str, priced: bool) -> str:
    if subject == "unit":
        return sql.unit_standings(sql.PRICED_UNIT_TOTALS if priced else sql.LIVE_UNIT_TOTALS)
    return sql.member_standings(sql.PRICED_MEMBER_TOTALS if priced else sql.LIVE_MEMBER_TOTALS)


def _args(campaign_id: str, phase_id: str, rules: ScoringRules, scope: str,
          scope_id: str | None) -> list:
    return [campaign_id, phase_id, rules.model_dump_json(), scope, scope_id]


async def standings_page(pool: asyncpg.Pool, campaign_id: str, phase_id: str,
                         rules: ScoringRules, subject: str, scope: str, scope_id: str | None,
                         after: int, limit: int) -> list[dict]:
    rows = await pool.fetch(sql.page(_statement(subject, priced=False)),
                            *_args(campaign_id, phase_id, rules, scope, scope_id), after, limit)
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class Move:
    subject_kind: str
    subject_id: str
    unit_id: str
    live_rank: int | None
    what_if_rank: int | None
    live_ranking_points: Decimal | None
    what_if_ranking_points: Decimal | None


async def what_if(pool: asyncpg.Pool, campaign_id: str, phase_id: str, live: ScoringRules,
                  proposed: ScoringRules, subject: str, scope: str,
                  scope_id: str | None) -> tuple[list[dict], list[Move]]:
    """Standings of the scope under `proposed` (the phase's facts priced by it) and every
    subject whose rank or ranking points differ from the live standings."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        now = await conn.fetch(_statement(subject, priced=False),
                               *_args(campaign_id, phase_id, live, scope, scope_id))
        then = await conn.fetch(_statement(subject, priced=True),
                                *_args(campaign_id, phase_id, proposed, scope, scope_id))
    before = {r["subject_id"]: r for r in now}
    after = {r["subject_id"]: r for r in then}
    moves = []
    for subject_id in before.keys() | after.keys():
        b, a = before.get(subject_id), after.get(subject_id)
        move = Move(subject, subject_id, (a or b)["unit_id"], b and b["rank"], a and a["rank"],
                    b and b["ranking_points"], a and a["ranking_points"])
        if (move.live_rank, move.live_ranking_points) != (move.what_if_rank,
                                                          move.what_if_ranking_points):
            moves.append(move)
    moves.sort(key=lambda m: (-abs((m.live_rank or 0) - (m.what_if_rank or 0)),
                              m.what_if_rank or 0, m.subject_id))
    return [dict(r) for r in then], moves


GROUP_KEYS = {"unit": "s.unit_id", "district": "coalesce(s.district, '')",
              "campaign": "s.campaign_id", "year": "coalesce(cr.year::text, '')"}


async def initiative_totals(pool: asyncpg.Pool, group_by: str, campaign_id: str | None,
                            year: int | None, units: list[str] | None, after: str,
                            limit: int) -> list[dict]:
    """Initiatives submitted and accepted, and the benefit recognised (VND), per unit,
    district, campaign or year; `units` limits them to those units (the caller's scope)."""
    key = GROUP_KEYS[group_by]
    rows = await pool.fetch(
        f"""SELECT {key} AS key, count(*) AS submitted,
                   count(*) FILTER (WHERE r.rule = 'initiative_accepted') AS accepted,
                   coalesce(sum(r.benefit_vnd) FILTER (WHERE r.rule = 'initiative_accepted'), 0)
                       AS recognised_benefit_vnd,
                   coalesce(sum(i.claimed_benefit_vnd), 0) AS claimed_benefit_vnd
            FROM facts AS s
            JOIN initiatives AS i ON i.initiative_id = substr(s.fact_id, 12)
            LEFT JOIN facts AS r ON r.fact_id = 'initiative:' || i.initiative_id
            LEFT JOIN campaign_rules AS cr ON cr.campaign_id = s.campaign_id
            WHERE s.rule = 'initiative_submitted'
              AND ($1::text IS NULL OR s.campaign_id = $1)
              AND ($2::integer IS NULL OR cr.year = $2)
              AND ($3::text[] IS NULL OR s.unit_id = ANY($3))
            GROUP BY 1 HAVING {key} > $4 ORDER BY 1 LIMIT $5""",
        campaign_id, year, units, after, limit,
    )
    return [dict(r) for r in rows]


async def units_with_initiatives(pool: asyncpg.Pool, campaign_id: str | None) -> list[str]:
    rows = await pool.fetch(
        """SELECT DISTINCT unit_id FROM facts
           WHERE rule = 'initiative_submitted' AND ($1::text IS NULL OR campaign_id = $1)""",
        campaign_id)
    return [r[0] for r in rows]


async def phase_barrier(pool: asyncpg.Pool, campaign_id: str, phase_id: str) -> dict | None:
    """A phase's close, its accepted counts against what scoring applied, and its late events."""
    row = await pool.fetchrow(
        """SELECT p.closed_at, p.finalized_at, p.accepted_counts::text AS accepted_counts,
                  (SELECT coalesce(jsonb_object_agg(counter, n), '{}')::text
                   FROM (SELECT counter, sum(n) AS n FROM phase_counts AS c
                         WHERE (c.campaign_id, c.phase_id) = ($1, $2)
                         GROUP BY counter) AS s) AS counts,
                  (SELECT count(*) FROM late_events AS l
                   WHERE (l.campaign_id, l.phase_id) = ($1, $2)) AS late_events
           FROM phases AS p WHERE (p.campaign_id, p.phase_id) = ($1, $2)""",
        campaign_id, phase_id)
    return dict(row) if row else None


async def late_events(pool: asyncpg.Pool, campaign_id: str, phase_id: str, after: str,
                      limit: int) -> list[dict]:
    rows = await pool.fetch(
        """SELECT event_id, event_type, unit_id, received_at FROM late_events
           WHERE campaign_id = $1 AND phase_id = $2 AND event_id > $3
           ORDER BY event_id LIMIT $4""",
        campaign_id, phase_id, after, limit)
    return [dict(r) for r in rows]


async def kept_answer(pool: asyncpg.Pool, key: str) -> KeptAnswer | None:
    row = await pool.fetchrow(
        """SELECT fingerprint, status_code, response FROM idempotency_keys
           WHERE idempotency_key = $1 AND expires_at > now()""", key)
    return KeptAnswer(key, row[0], row[1], bytes(row[2])) if row else None


async def keep_answer(pool: asyncpg.Pool, answer: KeptAnswer) -> KeptAnswer:
    """Keep the answer under its key (pruning two expired ones); if a concurrent request with
    the same key kept one first, that one is what both answer."""
    row = await pool.fetchrow(
        """WITH pruned AS (
               DELETE FROM idempotency_keys WHERE idempotency_key IN (
                   SELECT idempotency_key FROM idempotency_keys WHERE expires_at <= now()
                   ORDER BY expires_at LIMIT 2 FOR UPDATE SKIP LOCKED)
           ), kept AS (
               INSERT INTO idempotency_keys (idempotency_key, fingerprint, status_code,
                                             response, expires_at)
               VALUES ($1, $2, $3, $4, now() + $5::interval)
               ON CONFLICT (idempotency_key) DO UPDATE
                  SET fingerprint = EXCLUDED.fingerprint, status_code = EXCLUDED.status_code,
                      response = EXCLUDED.response, created_at = now(),
                      expires_at = EXCLUDED.expires_at
                  WHERE idempotency_keys.expires_at <= now()
               RETURNING fingerprint, status_code, response
           )
           SELECT * FROM kept
           UNION ALL
           SELECT fingerprint, status_code, response FROM idempotency_keys
           WHERE idempotency_key = $1 AND NOT EXISTS (SELECT FROM kept)""",
        answer.key, answer.fingerprint, answer.status_code, answer.body, RETENTION)
    return KeptAnswer(answer.key, row[0], row[1], bytes(row[2]))

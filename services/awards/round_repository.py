"""The SQL of a proposal round around its placing: the phase barrier, the campaign's rule set,
and the candidates' facts for the reference round.

Each step is one set-based statement inside the consumer's batch transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import asyncpg

from contracts.events.rules import AwardRules

from .candidates import Candidate, Initiative
from .round_tables import ISSUER_KINDS


async def count_applied(conn: asyncpg.Connection, counts: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """Add each phase's freshly applied score changes; give the phases now ready for their round
    (finalized, count reached, not proposed yet)."""
    rows = await conn.fetch(
        """INSERT INTO phase_progress AS p (campaign_id, phase_id, applied_score_changes)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
           ON CONFLICT (campaign_id, phase_id) DO UPDATE
             SET applied_score_changes = p.applied_score_changes + EXCLUDED.applied_score_changes
           RETURNING campaign_id, phase_id,
                     proposed_at IS NULL AND expected_score_changes IS NOT NULL
                     AND applied_score_changes >= expected_score_changes AS ready""",
        [k[0] for k in counts], [k[1] for k in counts], list(counts.values()))
    return [(r[0], r[1]) for r in rows if r[2]]


async def record_finalized(conn: asyncpg.Connection, campaign_id: str, phase_id: str,
                           expected: int, event_id: str, at: datetime) -> bool:
    """Record the phase's expected count; True when the round is ready now."""
    return await conn.fetchval(
        """INSERT INTO phase_progress AS p (campaign_id, phase_id, expected_score_changes,
                                            finalized_event_id, finalized_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (campaign_id, phase_id) DO UPDATE
             SET expected_score_changes = EXCLUDED.expected_score_changes,
                 finalized_event_id = EXCLUDED.finalized_event_id,
                 finalized_at = EXCLUDED.finalized_at
           RETURNING proposed_at IS NULL
                     AND applied_score_changes >= expected_score_changes""",
        campaign_id, phase_id, expected, event_id, at)


async def claim_round(conn: asyncpg.Connection, campaign_id: str, phase_id: str,
                      now: datetime) -> bool:
    """Mark the round proposed; False when another batch already did (the row lock orders
    two consumers reaching the barrier at once)."""
    return await conn.fetchval(
        """UPDATE phase_progress SET proposed_at = $3
           WHERE campaign_id = $1 AND phase_id = $2 AND proposed_at IS NULL
             AND applied_score_changes >= expected_score_changes
           RETURNING true""", campaign_id, phase_id, now) is not None


async def campaign_rules(conn: asyncpg.Connection, campaign_id: str,
                         fallback_year: int) -> tuple[AwardRules, int, str]:
    """The campaign's rule set, year and unit score basis; the published defaults for a
    campaign whose launch awards has not seen."""
    row = await conn.fetchrow(
        "SELECT awards::text, year, unit_score_basis FROM campaigns WHERE campaign_id = $1",
        campaign_id)
    if row is None:
        return AwardRules(), fallback_year, "per_100_members"
    return AwardRules.model_validate_json(row[0]), row[1], row[2]


_STANDINGS = """
SELECT s.subject_kind, s.subject_id, s.unit_id, s.total_points, s.accepted_initiatives,
       s.updated_at, coalesce(m.full_name, u.name, s.subject_id) AS name,
       coalesce(m.gender = 'female', false) AS woman,
       coalesce(m.direct_worker, false) AS direct_worker,
       coalesce(m.union_officer, false) AS officer,
       coalesce(u.member_count, 0) AS unit_members
FROM subject_standings s
LEFT JOIN directory_members m
       ON s.subject_kind = 'member' AND m.member_id = s.subject_id AND m.valid @> $3::date
LEFT JOIN directory_units u ON u.unit_id = s.unit_id AND u.valid @> $3::date
WHERE s.campaign_id = $1 AND s.phase_id = $2"""

_INITIATIVES = """
SELECT a.member_id, i.initiative_id, i.accepted_level, i.recognised_benefit_vnd
FROM initiatives i CROSS JOIN LATERAL unnest(i.author_ids) AS a(member_id)
WHERE i.campaign_id = $1 AND i.accepted_level IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM consumed_initiatives c WHERE c.initiative_id = i.initiative_id)"""

_ANCESTORS = """
WITH RECURSIVE up AS (
    SELECT u.unit_id AS origin, u.unit_id, u.parent_id, u.kind, 0 AS depth
    FROM directory_units u WHERE u.unit_id = ANY($1::text[]) AND u.valid @> $2::date
  UNION ALL
    SELECT up.origin, p.unit_id, p.parent_id, p.kind, up.depth + 1
    FROM up JOIN directory_units p ON p.unit_id = up.parent_id AND p.valid @> $2::date
    WHERE up.depth < 32)
SELECT origin, unit_id, kind FROM up ORDER BY origin, depth"""


async def candidates(conn: asyncpg.Connection, campaign_id: str, phase_id: str, year: int,
                     on: date, unit_basis: str) -> list[Candidate]:
    """Every subject scored in the phase with the facts its titles look at, as Python objects:
    the reference round (`proposal_round.propose`) places these, and the tests hold the SQL
    round (`round_placement`) to it."""
    standings = await conn.fetch(_STANDINGS, campaign_id, phase_id, on)
    initiatives: dict[str, list[Initiative]] = {}
    for r in await conn.fetch(_INITIATIVES, campaign_id):
        initiatives.setdefault(r[0], []).append(Initiative(r[1], r[2], r[3]))
    exclusions: dict[str, list[tuple[str, str]]] = {}
    for r in await conn.fetch(
            "SELECT member_id, kind, source FROM exclusions WHERE year = $1 ORDER BY kind", year):
        exclusions.setdefault(r[0], []).append((r[1], r[2]))
    history: dict[tuple[str, str], set[tuple[str, str, int]]] = {}
    for r in await conn.fetch(
            """SELECT subject_kind, subject_id, title, level, year FROM title_history
               WHERE year BETWEEN $1 - 10 AND $1""", year):
        history.setdefault((r[0], r[1]), set()).add((r[2], r[3], r[4]))
    issuers: dict[str, dict[str, str]] = {}
    for r in await conn.fetch(_ANCESTORS, list({s["unit_id"] for s in standings}), on):
        for level, kinds in ISSUER_KINDS.items():
            if r[2] in kinds:
                issuers.setdefault(r[0], {}).setdefault(level, r[1])
    clusters: dict[str, list[str]] = {}
    for r in await conn.fetch(
            """SELECT cluster_id, member_unit_ids FROM directory_clusters WHERE year = $1
               ORDER BY cluster_id""", year):
        for unit in r[1]:
            clusters.setdefault(unit, []).append(r[0])
    out = []
    for s in standings:
        kind, sid, unit = s["subject_kind"], s["subject_id"], s["unit_id"]
        points = s["total_points"]
        if kind == "unit" and unit_basis == "per_100_members" and s["unit_members"]:
            points = (points * 100 / Decimal(s["unit_members"])).quantize(
                Decimal("0.0001"), ROUND_HALF_UP)  # as PostgreSQL's round() does
        out.append(Candidate(
            kind, sid, s["name"], unit, points, s["accepted_initiatives"], s["direct_worker"],
            s["woman"], s["officer"], s["unit_members"], s["updated_at"],
            tuple(initiatives.get(sid, ())) if kind == "member" else (),
            tuple(exclusions.get(sid, ())) if kind == "member" else (),
            frozenset(history.get((kind, sid), ())), issuers.get(unit, {}),
            tuple(clusters.get(sid, ())) if kind == "unit" else ()))
    return out

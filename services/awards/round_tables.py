"""The facts a proposal round places from, staged in temporary tables of its transaction.

- `round_candidates`: every subject scored in the phase with its directory attributes on the
  round's date (a unit's points per 100 members under that basis, the district its events
  belong to);
- `round_issuers`: per candidate unit and level, the first unit above (or at) it of the level's
  issuing kinds; `round_clusters`: a unit's first emulation cluster of the year;
- `round_member_facts`: per member, the accepted initiatives not consumed by an award (highest
  level, recognised benefit, their ids); `round_exclusions`: the disqualifiers named by the
  rule set recorded for the year, in words;
- `round_qualified`: for the title being placed, who meets its criteria (`round_criteria`);
- `round_proposed`: who this round proposed so far, per title and level, narrow: later levels
  and titles look it up (the pyramid, prerequisites, member shares, ratio caps).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import asyncpg

from contracts.events.common import LEVELS
from contracts.events.rules import AwardRules

# Which unit kinds issue awards at each level (the first such ancestor of a candidate's unit).
ISSUER_KINDS = {
    "grassroots": ("grassroots_union",),
    "district": ("district_federation", "sector_union", "upper_level_union"),
    "city": ("city_federation",),
    "national": ("confederation",),
}

_TABLES = ("round_proposed", "round_candidates", "round_issuers", "round_clusters",
           "round_member_facts", "round_exclusions", "round_qualified")
# Memory for the round's sorts and hashes, for the round's statements only.
WORK_MEM = "512MB"

# ON COMMIT DELETE ROWS: a round leaves nothing behind on the pooled connection; each round
# also empties them first, since two phases' rounds may run in one batch transaction.
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS round_proposed (
    title text, level text, subject_kind text, subject_id text, unit_id text)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS round_candidates (
    subject_kind text, subject_id text, name text, unit_id text, points numeric,
    accepted_initiatives int, direct_worker bool, woman bool, officer bool, unit_members int,
    reached_at timestamptz, district_id text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS round_issuers (
    unit_id text, level text, issuer_unit_id text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS round_clusters (
    unit_id text PRIMARY KEY, cluster_id text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS round_member_facts (
    member_id text PRIMARY KEY, top_rank int, benefit numeric, initiative_ids text[],
    best_id text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS round_exclusions (
    member_id text PRIMARY KEY, standing text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS round_qualified (
    subject_kind text, subject_id text, name text, unit_id text, points numeric,
    direct_worker bool, reached_at timestamptz, unit_members int, excluded text,
    initiative_ids text[], district_id text) ON COMMIT DELETE ROWS;
"""

# $1 campaign, $2 phase, $3 the round's date, $4 the unit score basis. Rounding: half away from
# zero, as numeric's round() does (the reference quantizes the same way).
_CANDIDATES = """
INSERT INTO round_candidates
SELECT s.subject_kind, s.subject_id, coalesce(m.full_name, u.name, s.subject_id), s.unit_id,
       CASE WHEN s.subject_kind = 'unit' AND $4::text = 'per_100_members'
                 AND coalesce(u.member_count, 0) <> 0
            THEN round(s.total_points * 100 / u.member_count, 4)
            ELSE s.total_points END,
       s.accepted_initiatives, coalesce(m.direct_worker, false),
       coalesce(m.gender = 'female', false), coalesce(m.union_officer, false),
       coalesce(u.member_count, 0), s.updated_at, u.district_id
FROM subject_standings s
LEFT JOIN directory_members m
       ON s.subject_kind = 'member' AND m.member_id = s.subject_id AND m.valid @> $3::date
LEFT JOIN directory_units u ON u.unit_id = s.unit_id AND u.valid @> $3::date
WHERE s.campaign_id = $1 AND s.phase_id = $2"""

# $1 the round's date, $2/$3 (level, unit kind) pairs.
_ISSUERS = """
WITH RECURSIVE up AS (
    SELECT u.unit_id AS origin, u.unit_id, u.parent_id, u.kind, 0 AS depth
    FROM directory_units u
    WHERE u.unit_id IN (SELECT DISTINCT unit_id FROM round_candidates) AND u.valid @> $1::date
  UNION ALL
    SELECT up.origin, p.unit_id, p.parent_id, p.kind, up.depth + 1
    FROM up JOIN directory_units p ON p.unit_id = up.parent_id AND p.valid @> $1::date
    WHERE up.depth < 32)
INSERT INTO round_issuers
SELECT DISTINCT ON (up.origin, k.level) up.origin, k.level, up.unit_id
FROM up JOIN unnest($2::text[], $3::text[]) AS k(level, kind) ON k.kind = up.kind
ORDER BY up.origin, k.level, up.depth"""

_CLUSTERS = """
INSERT INTO round_clusters
SELECT u.unit_id, min(c.cluster_id)
FROM directory_clusters c CROSS JOIN LATERAL unnest(c.member_unit_ids) AS u(unit_id)
WHERE c.year = $1
GROUP BY u.unit_id"""

# $1 campaign, $2 the levels in order. The best initiative is the highest by (level, id), in
# code-point order as the reference compares strings.
_MEMBER_FACTS = """
INSERT INTO round_member_facts
SELECT a.member_id, max(array_position($2::text[], i.accepted_level) - 1),
       sum(i.recognised_benefit_vnd),
       array_agg(DISTINCT i.initiative_id COLLATE "C" ORDER BY i.initiative_id COLLATE "C"),
       (array_agg(i.initiative_id ORDER BY array_position($2::text[], i.accepted_level) DESC,
                  i.initiative_id COLLATE "C" DESC))[1]
FROM initiatives i CROSS JOIN LATERAL unnest(i.author_ids) AS a(member_id)
WHERE i.campaign_id = $1 AND i.accepted_level IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM consumed_initiatives c WHERE c.initiative_id = i.initiative_id)
GROUP BY a.member_id"""

# $1 year, $2 the kinds the rule set names.
_EXCLUSIONS = """
INSERT INTO round_exclusions
SELECT member_id, string_agg('excluded: ' || kind || ' (source: ' || source || ')', '; '
                             ORDER BY kind)
FROM exclusions WHERE year = $1 AND kind = ANY($2::text[])
GROUP BY member_id"""


async def stage(conn: asyncpg.Connection, campaign_id: str, phase_id: str, rules: AwardRules,
                year: int, on: date, unit_basis: str) -> None:
    """Fill the round's temporary tables (emptied first) with the phase's candidates and the
    facts their titles look at."""
    await conn.execute(_STAGE)
    await conn.execute(f"TRUNCATE {', '.join(_TABLES)}")
    await conn.execute(_CANDIDATES, campaign_id, phase_id, on, unit_basis)
    pairs = [(level, kind) for level, kinds in ISSUER_KINDS.items() for kind in kinds]
    await conn.execute(_ISSUERS, on, [p[0] for p in pairs], [p[1] for p in pairs])
    await conn.execute(_CLUSTERS, year)
    await conn.execute(_MEMBER_FACTS, campaign_id, list(LEVELS))
    await conn.execute(_EXCLUSIONS, year, list(rules.exclusions))


@asynccontextmanager
async def round_settings(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """The planner settings of a round's statements, set back afterwards (the batch's other
    handlers keep theirs). Every join of the round is set against set: a nested loop, chosen on
    a guess about a table filled moments ago, would make one quadratic; and its sorts (a
    million candidates, the outbox rows in order) fit in `WORK_MEM` instead of spilling."""
    saved = await conn.fetchrow(
        "SELECT current_setting('enable_nestloop'), current_setting('work_mem')")
    await conn.execute("SELECT set_config('enable_nestloop', 'off', true), "
                       "set_config('work_mem', $1, true)", WORK_MEM)
    yield
    await conn.execute("SELECT set_config('enable_nestloop', $1, true), "
                       "set_config('work_mem', $2, true)", saved[0], saved[1])

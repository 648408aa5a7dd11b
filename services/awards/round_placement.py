"""A phase's proposal round placed by PostgreSQL: set-based SQL, title by title, level by level.

The rules are those of `proposal_round` (the pure reference, which the tests hold this module
to on random inputs), written as statements over temporary tables of the round's transaction:

- `round_candidates`: every subject scored in the phase with its directory attributes on the
  round's date (a unit's points per 100 members under that basis);
- `round_issuers`: per candidate unit and level, the first unit above (or at) it of the level's
  issuing kinds; `round_clusters`: a unit's first emulation cluster of the year;
- `round_member_facts`: per member, the accepted initiatives not consumed by an award (highest
  level, recognised benefit, their ids); `round_exclusions`: the disqualifiers named by the
  rule set recorded for the year, in words;
- `round_qualified`: for the title being placed, who meets its criteria (prerequisites as joins
  on the title history and on this round's placements, member shares as counts of them);
- `round_placements`: every placement so far, ranked by a window function per issuer (or
  cluster) in the tie-break order, its quota joined per group; `round_proposed`: the narrow
  list of those within quota, which later titles and levels look up.

Each title is two statements plus one per level, whatever the number of candidates: the cost is
PostgreSQL's sorting and writing, not round trips.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import asyncpg

from contracts.events.common import LEVELS
from contracts.events.rules import AwardRules, TitleRule

from .candidates import LEVEL_RANK

# Which unit kinds issue awards at each level (the first such ancestor of a candidate's unit).
ISSUER_KINDS = {
    "grassroots": ("grassroots_union",),
    "district": ("district_federation", "sector_union", "upper_level_union"),
    "city": ("city_federation",),
    "national": ("confederation",),
}

_TABLES = ("round_placements", "round_proposed", "round_candidates", "round_issuers",
           "round_clusters", "round_member_facts", "round_exclusions", "round_qualified")
# Memory for the round's sorts and hashes, for the round's statements only.
WORK_MEM = "256MB"

# ON COMMIT DELETE ROWS: a round leaves nothing behind on the pooled connection; each round
# also empties them first, since two phases' rounds may run in one batch transaction.
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS round_placements (
    title text, level text, subject_kind text, subject_id text, subject_name text,
    unit_id text, issuer_unit_id text, cluster_id text, points numeric, rank int, quota int,
    candidate_count int, tie_break text, standing text, direct_worker bool,
    initiative_ids text[], status text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS round_proposed (
    title text, level text, subject_kind text, subject_id text, unit_id text)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS round_candidates (
    subject_kind text, subject_id text, name text, unit_id text, points numeric,
    accepted_initiatives int, direct_worker bool, woman bool, officer bool, unit_members int,
    reached_at timestamptz) ON COMMIT DELETE ROWS;
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
    initiative_ids text[]) ON COMMIT DELETE ROWS;
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
       coalesce(u.member_count, 0), s.updated_at
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

_BREAKER_KEYS = {  # tie-breaker → (the value compared, its order)
    "points": ("points", "DESC"),
    "direct_worker": ("direct_worker", "DESC"),
    "small_collective": ("small", "DESC"),
    "earliest": ("reached_at", "ASC NULLS LAST"),
}


class _Params:
    """Positional parameters of one statement, numbered as they are added."""

    def __init__(self, *first: object) -> None:
        self.values: list[object] = list(first)

    def __call__(self, value: object, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


def _qualifying(rule: TitleRule, year: int) -> tuple[str, list[object]]:
    """The statement filling `round_qualified` with who meets the title's criteria (at its
    lowest level), whether a disqualifier puts them out, and the initiatives it rests on."""
    p = _Params(rule.subject_kind)
    where = ["c.subject_kind = $1::text"]
    joins = []
    if rule.women_only:
        where.append("c.woman")
    if rule.officers_only:
        where.append("c.officer")
    if rule.direct_workers_only:
        where.append("c.direct_worker")
    if rule.min_points > 0:
        where.append(f"c.points >= {p(rule.min_points, 'numeric')}")
    if rule.min_accepted_initiatives:
        where.append(f"c.accepted_initiatives >= {p(rule.min_accepted_initiatives, 'int')}")
    if rule.min_initiative_level is not None:
        where.append(f"f.top_rank >= {p(LEVEL_RANK[rule.min_initiative_level], 'int')}")
    if rule.min_recognised_benefit_vnd:
        where.append(f"coalesce(f.benefit, 0) >= {p(rule.min_recognised_benefit_vnd, 'numeric')}")
    for n, req in enumerate(rule.requires):
        title, level = p(req.title, "text"), p(req.level, "text")
        joins.append(f"LEFT JOIN {_proposed(title, level)} r{n} ON r{n}.subject_id = c.subject_id")
        if req.same_round:
            where.append(f"r{n}.subject_id IS NOT NULL")
            continue
        # Held every year of the span: in the history (one row a year), or this year by this
        # round's proposal.
        y, span = p(year, "int"), p(req.consecutive_years, "int")
        joins.append(
            f"""LEFT JOIN (SELECT subject_kind, subject_id, count(*) AS years,
                                  bool_or(year = {y}) AS this_year
                           FROM title_history
                           WHERE title = {title} AND level = {level}
                             AND year BETWEEN {y} - {span} + 1 AND {y}
                           GROUP BY subject_kind, subject_id) h{n}
                 ON h{n}.subject_kind = c.subject_kind AND h{n}.subject_id = c.subject_id""")
        where.append(f"coalesce(h{n}.years, 0) + CASE WHEN r{n}.subject_id IS NOT NULL AND "
                     f"NOT coalesce(h{n}.this_year, false) THEN 1 ELSE 0 END >= {span}")
    for n, share in enumerate(rule.member_shares):
        joins.append(
            f"""LEFT JOIN (SELECT unit_id, count(*) AS members
                           FROM (SELECT DISTINCT unit_id, subject_id FROM round_proposed
                                 WHERE title = {p(share.title, 'text')}
                                   AND subject_kind = 'member') d
                           GROUP BY unit_id) s{n} ON s{n}.unit_id = c.subject_id""")
        where.append(f"coalesce(s{n}.members, 0) >= {p(share.min_count, 'int')} AND "
                     f"coalesce(s{n}.members, 0) * 100 >= "
                     f"{p(share.min_percent, 'numeric')} * c.unit_members")
    if not rule.consumes_initiatives:
        rests_on = "'{}'::text[]"
    elif rule.min_recognised_benefit_vnd:
        rests_on = "f.initiative_ids"
    elif rule.min_initiative_level is not None:
        rests_on = "ARRAY[f.best_id]"
    else:
        rests_on = "'{}'::text[]"
    joined = "\n".join(joins)
    sql = f"""
INSERT INTO round_qualified
SELECT c.subject_kind, c.subject_id, c.name, c.unit_id, c.points, c.direct_worker,
       c.reached_at, c.unit_members, x.standing, {rests_on}
FROM round_candidates c
LEFT JOIN round_member_facts f ON c.subject_kind = 'member' AND f.member_id = c.subject_id
LEFT JOIN round_exclusions x ON c.subject_kind = 'member' AND x.member_id = c.subject_id
{joined}
WHERE {' AND '.join(where)}"""
    return sql, p.values


_EXCLUDED = """
INSERT INTO round_placements
SELECT $1::text, $2::text, q.subject_kind, q.subject_id, q.name, q.unit_id,
       coalesce(i.issuer_unit_id, ''), NULL, q.points, NULL, NULL, 0, NULL, q.excluded,
       q.direct_worker, '{}'::text[], 'excluded'
FROM round_qualified q
LEFT JOIN round_issuers i ON i.unit_id = q.unit_id AND i.level = $2::text
WHERE q.excluded IS NOT NULL"""


def _proposed(title: str, level: str) -> str:
    """Who this round proposed so far for a title at a level (parameters), once each."""
    return f"(SELECT subject_id FROM round_proposed WHERE title = {title} AND level = {level})"


def _level(rule: TitleRule, level: str, below: str | None, rules: AwardRules) -> tuple[str, list[object]]:
    """The statement placing the qualified candidates at one level: ranked per issuer (or
    cluster) in the tie-break order, against the group's quota."""
    p = _Params(rule.title, level)
    cluster = "k.cluster_id" if rule.per_cluster else "NULL::text"
    joins = ["JOIN round_issuers i ON i.unit_id = q.unit_id AND i.level = $2::text"]
    if rule.per_cluster:
        joins.append("JOIN round_clusters k ON q.subject_kind = 'unit' "
                     "AND k.unit_id = q.subject_id")
    if below is not None:
        joins.append(f"JOIN {_proposed('$1::text', p(below, 'text'))} b "
                     "ON b.subject_id = q.subject_id")
    caps = [cap for cap in rules.ratio_caps
            if cap.enabled and cap.title == rule.title and cap.level == level]
    held = []
    for n, of_title in enumerate(dict.fromkeys(cap.of_title for cap in caps)):
        joins.append(f"LEFT JOIN {_proposed(p(of_title, 'text'), '$2::text')} o{n} "
                     f"ON o{n}.subject_id = q.subject_id")
        held.append(f"(o{n}.subject_id IS NOT NULL)::int AS held{n}")
    keys = [(name, *_BREAKER_KEYS[name]) for name in rules.tie_breakers]
    order = ", ".join(f"{col} {direction}" for _, col, direction in keys)
    order = f"{order}, subject_id COLLATE \"C\"" if order else "subject_id COLLATE \"C\""
    # The tie-breaker that separated a candidate from a neighbour with the same points: the
    # previous one if it has them, else the next; the first key that differs.
    def differing(fn: str) -> str:
        whens = " ".join(f"WHEN {fn}({col}) OVER w IS DISTINCT FROM {col} THEN '{name}'"
                         for name, col, _ in keys if name != "points")
        return f"CASE {whens} ELSE 'subject_id' END" if whens else "'subject_id'"

    limits = []
    if level in rule.quotas:
        limits.append(p(rule.quotas[level], "int"))
    if level in rule.quota_percent:
        limits.append(f"greatest(1, floor({p(rule.quota_percent[level], 'numeric')} "
                      "* candidate_count / 100))::int")
    if caps:
        fewest = "least(" + ", ".join(f"held_in{n}" for n in range(len(held))) + ")"
        limits += [f"floor({p(cap.max_percent, 'numeric')} * {fewest} / 100)::int"
                   for cap in caps]
    quota = f"least({', '.join(limits)})" if limits else "NULL::int"
    held_totals = "".join(f", sum(held{n}) OVER g AS held_in{n}" for n in range(len(held)))
    held_cols = "".join(f", {h}" for h in held)
    small = p(rules.small_collective_max_members, "int")
    sql = f"""
WITH placed AS (
SELECT $1::text AS title, $2::text AS level, subject_kind, subject_id, name, unit_id,
       issuer_unit_id, cluster_id,
       points, rank, quota, candidate_count, tie_break,
       CASE WHEN quota IS NULL
              THEN 'rank ' || rank || ' of ' || candidate_count || ' at ' || place
                   || '; no quota: proposed'
            WHEN rank <= quota
              THEN 'rank ' || rank || ' of ' || candidate_count || ' for ' || quota
                   || ' place(s) at ' || place || ': proposed'
            ELSE 'rank ' || rank || ' of ' || candidate_count || ' for ' || quota
                 || ' place(s) at ' || place || ': ' || (rank - quota)
                 || ' place(s) beyond the quota' END AS standing,
       direct_worker, initiative_ids,
       CASE WHEN quota IS NULL OR rank <= quota THEN 'proposed' ELSE 'beyond_quota' END
         AS status
FROM (SELECT *, {quota} AS quota, coalesce(cluster_id, issuer_unit_id) AS place
      FROM (SELECT *, row_number() OVER w AS rank, count(*) OVER g AS candidate_count,
                   CASE WHEN lag(points) OVER w = points THEN {differing('lag')}
                        WHEN lead(points) OVER w = points THEN {differing('lead')} END
                     AS tie_break{held_totals}
            FROM (SELECT q.subject_kind, q.subject_id, q.name, q.unit_id, q.points,
                         q.direct_worker, q.reached_at, q.initiative_ids,
                         q.unit_members > 0 AND q.unit_members <= {small} AS small,
                         i.issuer_unit_id, {cluster} AS cluster_id{held_cols}
                  FROM round_qualified q
                  {' '.join(joins)}
                  WHERE q.excluded IS NULL) pool
            WINDOW g AS (PARTITION BY issuer_unit_id, cluster_id),
                   w AS (g ORDER BY {order})) ranked) quoted),
stored AS (INSERT INTO round_placements SELECT * FROM placed)
INSERT INTO round_proposed
SELECT title, level, subject_kind, subject_id, unit_id FROM placed WHERE status = 'proposed'"""
    return sql, p.values


async def place(conn: asyncpg.Connection, campaign_id: str, phase_id: str, rules: AwardRules,
                year: int, on: date, unit_basis: str) -> int:
    """Place every candidate of the round into `round_placements` (the title's, level's and
    subject's placement, as `proposal_round.propose` would); give how many placements."""
    await conn.execute(_STAGE)
    await conn.execute(f"TRUNCATE {', '.join(_TABLES)}")
    await conn.execute(_CANDIDATES, campaign_id, phase_id, on, unit_basis)
    pairs = [(level, kind) for level, kinds in ISSUER_KINDS.items() for kind in kinds]
    await conn.execute(_ISSUERS, on, [p[0] for p in pairs], [p[1] for p in pairs])
    await conn.execute(_CLUSTERS, year)
    await conn.execute(_MEMBER_FACTS, campaign_id, list(LEVELS))
    await conn.execute(_EXCLUSIONS, year, list(rules.exclusions))
    for rule in rules.titles:
        if not rule.levels or not rule.computed:
            continue  # nominated by peers
        await conn.execute("TRUNCATE round_qualified")
        sql, args = _qualifying(rule, year)
        await conn.execute(sql, *args)
        await conn.execute(_EXCLUDED, rule.title, rule.levels[0])
        for index, level in enumerate(rule.levels):
            below = rule.levels[index - 1] if index and rules.higher_level_requires_lower else None
            sql, args = _level(rule, level, below, rules)
            await conn.execute(sql, *args)
    return await conn.fetchval("SELECT count(*) FROM round_placements")


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

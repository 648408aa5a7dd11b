"""Ranking a title's qualified candidates at one level against its quotas, in one statement.

Per issuer (or, for a title placed per cluster, per emulation cluster) a window function ranks
the candidates in the rule set's tie-break order; the tie-breaker that separated a candidate
from a neighbour with the same points comes from the neighbours (`lag`/`lead`); the group's
quota is joined (a fixed number, a percentage of the group's count, a ratio cap against a
title held). The same statement stores every placement (its standing in words follows from
its numbers: `proposal_standing`, not stored), keeps the proposed for what comes after, and
announces them (`round_records`).
"""

from __future__ import annotations

from contracts.events.rules import AwardRules, TitleRule

from .round_criteria import proposed_by_round
from .round_records import Params, RoundStamp, announce, proposal_id, store

_BREAKER_KEYS = {  # tie-breaker → (the value compared, its order)
    "points": ("points", "DESC"),
    "direct_worker": ("direct_worker", "DESC"),
    "small_collective": ("small", "DESC"),
    "earliest": ("reached_at", "ASC NULLS LAST"),
}


def level_statement(rule: TitleRule, level: str, below: str | None, rules: AwardRules,
                    stamp: RoundStamp) -> tuple[str, list[object]]:
    """The statement placing the qualified candidates at one level: ranked per issuer (or
    cluster) in the tie-break order, against the group's quota; stored in `proposals`, the
    proposed kept for the levels and titles after it, and announced in rank order per issuer
    (or cluster). It gives (placements, announced)."""
    p = Params(rule.title, level)
    cluster = "k.cluster_id" if rule.per_cluster else "NULL::text"
    joins = ["JOIN round_issuers i ON i.unit_id = q.unit_id AND i.level = $2::text"]
    if rule.per_cluster:
        joins.append("JOIN round_clusters k ON q.subject_kind = 'unit' "
                     "AND k.unit_id = q.subject_id")
    if below is not None:
        joins.append(f"JOIN {proposed_by_round('$1::text', p(below, 'text'))} b "
                     "ON b.subject_id = q.subject_id")
    caps = [cap for cap in rules.ratio_caps
            if cap.enabled and cap.title == rule.title and cap.level == level]
    held = []
    for n, of_title in enumerate(dict.fromkeys(cap.of_title for cap in caps)):
        joins.append(f"LEFT JOIN {proposed_by_round(p(of_title, 'text'), '$2::text')} o{n} "
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
    # A cluster's flag is one for the cluster, even when its units lie under several issuers.
    group = "cluster_id" if rule.per_cluster else "issuer_unit_id"
    within_quota = f"""(SELECT * FROM placed WHERE status = 'proposed'
                       ORDER BY {group}, rank) within_quota"""
    sql = f"""
WITH placed AS (
SELECT {proposal_id(stamp, rule.title, level, rule.subject_kind, p)} AS proposal_id,
       subject_kind, subject_id, name, unit_id, issuer_unit_id, cluster_id,
       points, rank, quota, candidate_count, tie_break,
       NULL::text AS standing,  -- in words from the numbers: proposal_standing(p)
       direct_worker, initiative_ids,
       CASE WHEN quota IS NULL OR rank <= quota THEN 'proposed' ELSE 'beyond_quota' END
         AS status, district_id
FROM (SELECT *, {quota} AS quota
      FROM (SELECT *, row_number() OVER w AS rank, count(*) OVER g AS candidate_count,
                   CASE WHEN lag(points) OVER w = points THEN {differing('lag')}
                        WHEN lead(points) OVER w = points THEN {differing('lead')} END
                     AS tie_break{held_totals}
            FROM (SELECT q.subject_kind, q.subject_id, q.name, q.unit_id, q.points,
                         q.direct_worker, q.reached_at, q.initiative_ids, q.district_id,
                         q.unit_members > 0 AND q.unit_members <= {small} AS small,
                         i.issuer_unit_id, {cluster} AS cluster_id{held_cols}
                  FROM round_qualified q
                  {' '.join(joins)}
                  WHERE q.excluded IS NULL) pool
            WINDOW g AS (PARTITION BY {group}),
                   w AS (g ORDER BY {order})) ranked) quoted),
stored AS ({store(stamp, rule.title, level, "placed", p)}),
kept AS (INSERT INTO round_proposed
         SELECT $1::text, $2::text, subject_kind, subject_id, unit_id FROM placed
         WHERE status = 'proposed'),
announced AS ({announce(stamp, rule.title, level, rule.subject_kind, within_quota, p)}
    RETURNING 1)
SELECT (SELECT count(*) FROM placed), (SELECT count(*) FROM announced)"""
    return sql, p.values

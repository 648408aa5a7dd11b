"""Who meets a title's criteria in a proposal round, and who of them a disqualifier puts out.

One statement per title fills `round_qualified` from `round_candidates`: the criteria over
points, initiatives and member attributes as conditions; prerequisites as joins on
`title_history` and on this round's proposals (`round_proposed`); a collective's member shares
as counts of its members proposed before it. The excluded are stored at once, with the reason.
"""

from __future__ import annotations

from contracts.events.rules import TitleRule

from .candidates import LEVEL_RANK
from .round_records import Params, RoundStamp, proposal_id, store


def proposed_by_round(title: str, level: str) -> str:
    """Who this round proposed so far for a title at a level (SQL parameters), once each."""
    return f"(SELECT subject_id FROM round_proposed WHERE title = {title} AND level = {level})"


def qualifying(rule: TitleRule, year: int) -> tuple[str, list[object]]:
    """The statement filling `round_qualified` with who meets the title's criteria (at its
    lowest level), whether a disqualifier puts them out, and the initiatives it rests on."""
    p = Params(rule.subject_kind)
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
        joins.append(
            f"LEFT JOIN {proposed_by_round(title, level)} r{n} ON r{n}.subject_id = c.subject_id")
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
       c.reached_at, c.unit_members, x.standing, {rests_on}, c.district_id
FROM round_candidates c
LEFT JOIN round_member_facts f ON c.subject_kind = 'member' AND f.member_id = c.subject_id
LEFT JOIN round_exclusions x ON c.subject_kind = 'member' AND x.member_id = c.subject_id
{joined}
WHERE {' AND '.join(where)}"""
    return sql, p.values


def excluded(rule: TitleRule, stamp: RoundStamp) -> tuple[str, list[object]]:
    """The statement storing the title's qualified candidates a disqualifier puts out, at its
    lowest level, with the reason as their standing (they are not announced)."""
    p = Params()
    level = rule.levels[0]
    placements = f"""(
        SELECT {proposal_id(stamp, rule.title, level, rule.subject_kind, p)} AS proposal_id,
               q.subject_kind, q.subject_id, q.name, q.unit_id,
               coalesce(i.issuer_unit_id, '') AS issuer_unit_id, NULL::text AS cluster_id,
               q.points, NULL::int AS rank, NULL::int AS quota, 0 AS candidate_count,
               NULL::text AS tie_break, q.excluded AS standing, q.direct_worker,
               '{{}}'::text[] AS initiative_ids, 'excluded' AS status
        FROM round_qualified q
        LEFT JOIN round_issuers i ON i.unit_id = q.unit_id AND i.level = {p(level, 'text')}
        WHERE q.excluded IS NOT NULL) excluded"""
    return store(stamp, rule.title, level, placements, p), p.values

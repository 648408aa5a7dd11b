"""A phase's proposal round, free of I/O: per title and level, ranked candidates within quota.

Titles are taken in the rule set's order, so a title may require one listed before it in the
same round (grassroots emulation fighter requires advanced labourer; a collective's member
shares count the members proposed before it). At a title's lowest level the candidates are those
who meet its criteria and are not excluded; at each level above, only those proposed within
quota at the level below (when `higher_level_requires_lower`), so the pyramid holds at every
level. Candidates compete per issuer (the unit of that level above them) or, for a title with
`per_cluster`, per emulation cluster. Titles with no computable criteria are nominated by peers
and not proposed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.events.rules import AwardRules, TitleRule

from . import quota_ranking as ranking
from .candidates import Candidate, Round, check, excluded_by

PROPOSED, BEYOND_QUOTA, EXCLUDED = "proposed", "beyond_quota", "excluded"


@dataclass(frozen=True)
class Placement:
    """Where one candidate stands for one title at one level."""

    title: str
    level: str
    candidate: Candidate
    status: str  # proposed, beyond_quota or excluded
    issuer_unit_id: str
    cluster_id: str | None
    rank: int | None
    quota: int | None
    candidate_count: int
    tie_break: str | None
    standing: str  # in words, e.g. "rank 3 of 120 for 85 place(s) at u-dongda: proposed"
    initiative_ids: tuple[str, ...] = ()


def _groups(rule: TitleRule, level: str,
            pool: Sequence[Candidate]) -> dict[tuple[str, str | None], list[Candidate]]:
    """Who competes with whom: per issuer, or for a `per_cluster` title per cluster alone (one
    flag a cluster, even when its units lie under several issuers), keyed (issuer, cluster)
    with the issuer empty for a cluster."""
    groups: dict[tuple[str, str | None], list[Candidate]] = {}
    for c in pool:
        issuer = c.issuers.get(level)
        if issuer is None:
            continue  # no unit issues this level above the candidate
        if rule.per_cluster:
            if not c.clusters:
                continue
            groups.setdefault(("", c.clusters[0]), []).append(c)
        else:
            groups.setdefault((issuer, None), []).append(c)
    return groups


def _place_level(rule: TitleRule, level: str, pool: Sequence[Candidate], rules: AwardRules,
                 rnd: Round, rests_on: dict[str, tuple[str, ...]]) -> list[Placement]:
    out = []
    for (_, cluster), group in sorted(_groups(rule, level, pool).items(),
                                      key=lambda kv: (kv[0][0], kv[0][1] or "")):
        order, keys = ranking.ranked(group, rules)
        of = [cap.of_title for cap in rules.ratio_caps
              if cap.enabled and cap.title == rule.title and cap.level == level]
        cap = None
        if of:
            counts = [sum(1 for c in order if rnd.holds(t, level, c.subject_id)) for t in of]
            cap = ranking.ratio_cap(rules, rule.title, level, min(counts))
        quota = ranking.quota_of(rule, level, len(order), cap)
        for i, c in enumerate(order):
            rank = i + 1
            status = PROPOSED if quota is None or rank <= quota else BEYOND_QUOTA
            issuer = c.issuers[level]
            where = cluster or issuer
            out.append(Placement(
                rule.title, level, c, status, issuer, cluster, rank, quota, len(order),
                ranking.deciding_breaker(order, i, rules, keys),
                ranking.standing_text(rank, len(order), quota, where),
                rests_on.get(c.subject_id, ())))
    return out


def place_title(rule: TitleRule, candidates: Sequence[Candidate], rules: AwardRules,
                year: int, rnd: Round) -> list[Placement]:
    """Every placement of one title, level by level, recording the proposed in `rnd`."""
    if not rule.levels or not rule.computed:
        return []
    pool = [c for c in candidates if c.subject_kind == rule.subject_kind]
    out: list[Placement] = []
    qualified: list[Candidate] = []
    rests_on: dict[str, tuple[str, ...]] = {}
    for c in pool:
        verdict = check(rule, c, year, rnd)
        if not verdict.qualifies:
            continue
        excluded = excluded_by(c, rules)
        if excluded:
            lowest = rule.levels[0]
            out.append(Placement(rule.title, lowest, c, EXCLUDED, c.issuers.get(lowest, ""),
                                 None, None, None, 0, None, "; ".join(excluded)))
            continue
        qualified.append(c)
        rests_on[c.subject_id] = verdict.initiative_ids
    for index, level in enumerate(rule.levels):
        if index and rules.higher_level_requires_lower:
            below = rnd.proposed.get((rule.title, rule.levels[index - 1]), set())
            qualified = [c for c in qualified if c.subject_id in below]
        placed = _place_level(rule, level, qualified, rules, rnd, rests_on)
        out += placed
        by_id = {c.subject_id: c for c in qualified}
        rnd.record(rule.title, level, rule.subject_kind,
                   [by_id[p.candidate.subject_id] for p in placed if p.status == PROPOSED])
    return out


def propose(candidates: Sequence[Candidate], rules: AwardRules, year: int) -> list[Placement]:
    """The whole round: every title of the rule set, in its order."""
    rnd = Round()
    out: list[Placement] = []
    for rule in rules.titles:
        out += place_title(rule, candidates, rules, year, rnd)
    return out

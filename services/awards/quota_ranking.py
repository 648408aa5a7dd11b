"""Ranking candidates for a quota, and the quota itself: pure, deterministic.

The order is the rule set's `tie_breakers` (default: more points, then direct-production
workers, then small collectives, then the earliest to reach their standing), and finally the
subject id, so the same facts always give the same ranks. "Small collective" is the candidate
unit itself for a collective title, the member's unit for an individual one: a unit with at most
`small_collective_max_members` members comes first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from contracts.events.rules import AwardRules, TitleRule

from .candidates import Candidate

_NEVER = datetime.max.replace(tzinfo=UTC)


def sort_key(c: Candidate, rules: AwardRules) -> tuple:
    parts: list[object] = []
    for breaker in rules.tie_breakers:
        if breaker == "points":
            parts.append(-c.points)
        elif breaker == "direct_worker":
            parts.append(0 if c.direct_worker else 1)
        elif breaker == "small_collective":
            parts.append(0 if 0 < c.unit_members <= rules.small_collective_max_members else 1)
        else:
            parts.append(c.reached_at or _NEVER)
    parts.append(c.subject_id)
    return tuple(parts)


def ranked(candidates: Sequence[Candidate], rules: AwardRules) -> tuple[list[Candidate], list[tuple]]:
    """The candidates in order, with their sort keys."""
    pairs = sorted(((sort_key(c, rules), c) for c in candidates), key=lambda kc: kc[0])
    return [c for _, c in pairs], [k for k, _ in pairs]


def deciding_breaker(order: Sequence[Candidate], i: int, rules: AwardRules,
                     keys: Sequence[tuple] | None = None) -> str | None:
    """Which tie-breaker placed the i-th candidate against a neighbour with the same points:
    the first key that differs (`subject_id` when all are equal); None when points decided.
    `keys`: the candidates' sort keys, when already computed."""
    names = [*rules.tie_breakers, "subject_id"]
    mine = keys[i] if keys is not None else sort_key(order[i], rules)
    for j in (i - 1, i + 1):
        if not 0 <= j < len(order) or order[j].points != order[i].points:
            continue
        theirs = keys[j] if keys is not None else sort_key(order[j], rules)
        for name, a, b in zip(names, mine, theirs, strict=True):
            if name != "points" and a != b:
                return name
    return None


def quota_of(rule: TitleRule, level: str, eligible: int, cap: int | None = None) -> int | None:
    """Places at a level for one issuer or cluster: the fixed quota, the percentage of the
    eligible (rounded down, at least 1 when any), and a ratio cap: the smallest binds."""
    limits = []
    if level in rule.quotas:
        limits.append(rule.quotas[level])
    if level in rule.quota_percent and eligible:
        share = rule.quota_percent[level] * eligible / Decimal(100)
        limits.append(max(1, math.floor(share)))
    if cap is not None:
        limits.append(cap)
    return min(limits) if limits else None


def ratio_cap(rules: AwardRules, title: str, level: str, of_count: int) -> int | None:
    """The enabled ratio caps on `title` at `level`, given how many of the other title the
    issuer has in this round."""
    caps = [math.floor(c.max_percent * of_count / Decimal(100)) for c in rules.ratio_caps
            if c.enabled and c.title == title and c.level == level]
    return min(caps) if caps else None


def standing_text(rank: int, count: int, quota: int | None, where: str) -> str:
    if quota is None:
        return f"rank {rank} of {count} at {where}; no quota: proposed"
    if rank <= quota:
        return f"rank {rank} of {count} for {quota} place(s) at {where}: proposed"
    return (f"rank {rank} of {count} for {quota} place(s) at {where}: "
            f"{rank - quota} place(s) beyond the quota")

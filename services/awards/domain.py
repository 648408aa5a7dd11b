"""Award eligibility, free of I/O: which titles a subject's standing qualifies it for.

Only titles decided by computable criteria (points, accepted initiatives) are evaluated here;
titles reserved to women or officers need member attributes, and titles with no criteria are
nominated by peers (bình xét) — both are decided in the approval workflow, not from scores.
Eligibility is at a title's lowest level; higher levels and quotas are decided on proposal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contracts.events.rules import AwardRules, TitleRule


@dataclass(frozen=True)
class Standing:
    subject_kind: str
    total_points: Decimal
    accepted_initiatives: int


@dataclass(frozen=True)
class Eligibility:
    title: str
    level: str
    eligible: bool
    reason: str


def is_computed(rule: TitleRule) -> bool:
    has_criteria = rule.min_points > 0 or rule.min_accepted_initiatives > 0
    return has_criteria and not (rule.women_only or rule.officers_only)


def evaluate(standing: Standing, rules: AwardRules) -> list[Eligibility]:
    results = []
    for rule in rules.titles:
        if rule.subject_kind != standing.subject_kind or not is_computed(rule):
            continue
        if standing.total_points < rule.min_points:
            eligible, reason = False, "min_points_not_reached"
        elif standing.accepted_initiatives < rule.min_accepted_initiatives:
            eligible, reason = False, "accepted_initiatives_missing"
        else:
            eligible, reason = True, "criteria_met"
        results.append(Eligibility(rule.title, rule.levels[0], eligible, reason))
    return results


def changed(previous: dict[tuple[str, str], bool], current: list[Eligibility]) -> list[Eligibility]:
    """The evaluations that differ from what was last announced (or were never announced)."""
    return [e for e in current if previous.get((e.title, e.level)) != e.eligible]

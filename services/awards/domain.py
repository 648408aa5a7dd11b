"""Award eligibility, free of I/O: which titles a subject's standing qualifies it for.

Only titles decided by computable criteria (points, accepted initiatives) are evaluated here;
titles reserved to women or officers need member attributes, and titles with no criteria are
nominated by peers (bình xét) — both are decided in the approval workflow, not from scores.
Eligibility is at a title's lowest level; higher levels and quotas are decided on proposal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from contracts.events.rules import AwardRules, TitleRule
from contracts.events.scores import ScoreChanged

SubjectKey = tuple[str, str, str, str]  # campaign, phase, subject kind, subject id


@dataclass(frozen=True)
class Standing:
    subject_kind: str
    total_points: Decimal
    accepted_initiatives: int


@dataclass(frozen=True)
class StandingUpdate:
    """What a batch's score changes tell about one subject."""

    subject: SubjectKey
    unit_id: str
    total_points: Decimal
    accepted_delta: int
    cause_id: str  # the latest score event about the subject


@dataclass(frozen=True)
class Eligibility:
    title: str
    level: str
    eligible: bool
    reason: str


def standing_updates(changes: Sequence[tuple[str, ScoreChanged]]) -> list[StandingUpdate]:
    """One update per subject from (event id, change) pairs: its largest total, accepted
    initiatives counted, and the latest change as the cause of what follows.

    A member's changes can arrive on several partitions (keyed by unit), so out of order: while
    points are only ever added, the larger total is the later one.
    """
    by_subject: dict[SubjectKey, StandingUpdate] = {}
    for event_id, c in changes:
        key = (c.campaign_id, c.phase_id, c.subject_kind, c.subject_id)
        accepted = 1 if c.reason == "initiative_accepted" else 0
        seen = by_subject.get(key)
        if seen is not None:
            accepted += seen.accepted_delta
            total = max(seen.total_points, c.total_points)
        else:
            total = c.total_points
        by_subject[key] = StandingUpdate(key, c.unit_id, total, accepted, event_id)
    return list(by_subject.values())


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

"""Scoring rules, free of I/O: which subjects an event earns points for, and how many."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from contracts.events.initiatives import InitiativeSubmitted
from contracts.events.rules import ScoringRules
from contracts.events.scores import ScoreChanged

SubjectKey = tuple[str, str, str, str]  # campaign, phase, subject kind, subject id


@dataclass(frozen=True)
class PointsAwarded:
    subject_kind: str  # "unit" | "member"
    subject_id: str
    points: Decimal
    reason: str


@dataclass(frozen=True)
class Credit:
    """Points for one subject from one source event: one line of the ledger."""

    source_event_id: str
    district: str | None
    campaign_id: str
    phase_id: str
    unit_id: str
    awarded: PointsAwarded

    @property
    def subject_key(self) -> SubjectKey:
        a = self.awarded
        return self.campaign_id, self.phase_id, a.subject_kind, a.subject_id


@dataclass(frozen=True)
class Recorded:
    """A new ledger line with its subject's total and version right after it."""

    credit: Credit
    total: Decimal
    version: int


def running_totals(
    credits: Sequence[Credit], after: dict[SubjectKey, tuple[Decimal, int]]
) -> list[Recorded]:
    """Each line's total and version, from each subject's total and version after the batch:
    walking back from the end, a line's total is the final one less the points of the lines
    after it, and its version one less than the next line's."""
    remaining = dict(after)
    out: list[Recorded] = []
    for c in reversed(credits):
        total, version = remaining[c.subject_key]
        out.append(Recorded(c, total, version))
        remaining[c.subject_key] = (total - c.awarded.points, version - 1)
    out.reverse()
    return out


def points_for_submission(
    initiative: InitiativeSubmitted, rules: ScoringRules
) -> list[PointsAwarded]:
    """A submitted initiative counts as participation for its unit and for each author.

    The larger points for an accepted initiative (by level and grade) come with its review.
    """
    credit = rules.participation_points
    awarded = [PointsAwarded("unit", initiative.unit_id, credit, "initiative_submitted")]
    awarded += [
        PointsAwarded("member", author.member_id, credit, "initiative_submitted")
        for author in initiative.authors
    ]
    return awarded


def merge_score_changes(staged: ScoreChanged, later: ScoreChanged) -> ScoreChanged:
    """Two changes of one subject in one batch announce as one: deltas summed, latest total
    and version (the later change's)."""
    return later.model_copy(update={"points_delta": staged.points_delta + later.points_delta})

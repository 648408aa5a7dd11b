"""Scoring rules, free of I/O: which subjects an event earns points for, and how many."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contracts.events.initiatives import InitiativeSubmitted
from contracts.events.rules import ScoringRules


@dataclass(frozen=True)
class PointsAwarded:
    subject_kind: str  # "unit" | "member"
    subject_id: str
    points: Decimal
    reason: str


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

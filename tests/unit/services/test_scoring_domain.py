"""Scoring's rules for a submitted initiative: participation points for the unit and each author."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted
from contracts.events.rules import ScoringRules
from services.scoring.domain import PointsAwarded, points_for_submission


def submission(*member_ids: str) -> InitiativeSubmitted:
    return InitiativeSubmitted(
        initiative_id="ini-1", campaign_id="cmp-2025-hn", phase_id="p1", unit_id="u-det-8-3",
        title="Cải tiến khung dệt", field="kỹ thuật", claimed_benefit_vnd=50_000_000,
        authors=[InitiativeAuthor(member_id=m, full_name=f"Tác giả {m}", direct_worker=True)
                 for m in member_ids],
        submitted_at=datetime(2025, 6, 1, tzinfo=UTC),
    )


def test_each_author_and_the_unit_earn_participation_points_for_a_submission():
    awarded = points_for_submission(submission("m-1", "m-2"), ScoringRules())
    assert awarded == [
        PointsAwarded("unit", "u-det-8-3", Decimal(2), "initiative_submitted"),
        PointsAwarded("member", "m-1", Decimal(2), "initiative_submitted"),
        PointsAwarded("member", "m-2", Decimal(2), "initiative_submitted"),
    ]


def test_submission_points_follow_the_campaigns_participation_rule():
    rules = ScoringRules(participation_points=Decimal("1.5"))
    awarded = points_for_submission(submission("m-1"), rules)
    assert {a.points for a in awarded} == {Decimal("1.5")}


def test_the_unit_is_credited_once_however_many_authors_there_are():
    awarded = points_for_submission(submission("m-1", "m-2", "m-3"), ScoringRules())
    assert [a.subject_kind for a in awarded].count("unit") == 1
    assert len(awarded) == 4

"""Domain rules the payloads encode: dated tree links, phases, reviews, rule-set defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from contracts.events import (
    CampaignLaunched,
    InitiativeReviewed,
    Phase,
    PhaseClosed,
    PhaseStandingsFinalized,
    UnitRegistered,
)
from contracts.events.common import TITLES

NOW = datetime(2025, 7, 5, 10, tzinfo=UTC)
PHASE_1 = Phase(phase_id="p1", name="Đợt 1", starts_on=date(2025, 1, 1), ends_on=date(2025, 6, 30))


def _campaign(**changes) -> CampaignLaunched:
    fields = {"campaign_id": "c-dongda-2025", "organizer_unit_id": "u-dongda", "year": 2025,
                  "theme": "Lao động giỏi, lao động sáng tạo", "phases": [PHASE_1], "launched_at": NOW}
    return CampaignLaunched(**(fields | changes))


def test_a_campaign_launched_without_rules_gets_the_default_rule_sets():
    campaign = _campaign()
    assert campaign.scoring.initiative_points["city"]["A"] > campaign.scoring.initiative_points[
        "grassroots"]["A"]
    assert campaign.scoring.unit_score_basis == "per_100_members"
    assert campaign.awards.higher_level_requires_lower
    assert {rule.title for rule in campaign.awards.titles} == set(TITLES)


def test_default_quotas_follow_the_seeds_family_pyramid():
    family = next(r for r in _campaign().awards.titles if r.title == "exemplary_family")
    assert family.quotas == {"district": 62, "city": 3}


def test_default_tie_breakers_favour_direct_workers_and_small_collectives():
    breakers = _campaign().awards.tie_breakers
    assert breakers.index("direct_worker") < breakers.index("earliest")
    assert "small_collective" in breakers


def test_a_campaign_needs_at_least_one_phase_with_unique_ids():
    with pytest.raises(ValidationError):
        _campaign(phases=[])
    with pytest.raises(ValidationError, match="unique"):
        _campaign(phases=[PHASE_1, PHASE_1])


def test_a_phase_cannot_end_before_it_starts():
    with pytest.raises(ValidationError, match="ends_on"):
        Phase(phase_id="p", name="x", starts_on=date(2025, 7, 28), ends_on=date(2025, 4, 29))


def test_a_unit_cannot_have_more_direct_workers_than_members():
    with pytest.raises(ValidationError, match="direct_worker_count"):
        UnitRegistered(unit_id="u", name="CĐCS", kind="grassroots_union", parent_id="u-myduc",
                       effective_from=date(2024, 1, 1), district_id="u-myduc",
                       sector="enterprise", member_count=10, direct_worker_count=11)


def _review(**changes) -> InitiativeReviewed:
    fields = {"initiative_id": "i", "campaign_id": "c", "phase_id": "p", "unit_id": "u",
                  "outcome": "accepted", "level": "district", "grade": "A",
                  "recognised_benefit_vnd": 40_000_000, "council_unit_id": "u-dongda", "reviewed_at": NOW}
    return InitiativeReviewed(**(fields | changes))


def test_an_accepted_initiative_needs_a_grade():
    with pytest.raises(ValidationError, match="grade"):
        _review(grade=None)


def test_a_rejected_initiative_recognises_no_benefit():
    with pytest.raises(ValidationError, match="benefit"):
        _review(outcome="rejected", grade=None)
    assert _review(outcome="rejected", grade=None, recognised_benefit_vnd=0).grade is None


def test_a_phase_close_counts_accepted_events_per_event_type():
    closed = PhaseClosed(campaign_id="c", phase_id="p1", closed_at=NOW, closed_by_unit_id="u",
                         accepted_counts={"thidua.initiative.submitted.v1": 1226})
    assert closed.accepted_counts["thidua.initiative.submitted.v1"] == 1226
    with pytest.raises(ValidationError):
        PhaseClosed(campaign_id="c", phase_id="p1", closed_at=NOW, closed_by_unit_id="u",
                    accepted_counts={"initiatives": 3})
    with pytest.raises(ValidationError):
        PhaseClosed(campaign_id="c", phase_id="p1", closed_at=NOW, closed_by_unit_id="u",
                    accepted_counts={"thidua.initiative.submitted.v1": -1})


def test_a_standings_chunk_index_stays_below_the_chunk_count():
    with pytest.raises(ValidationError, match="chunk_index"):
        PhaseStandingsFinalized(unit_id="u", campaign_id="c", phase_id="p", scope_kind="cluster",
                                scope_id="cl", entries=[], chunk_index=1, chunk_count=1,
                                finalized_at=NOW)


def test_payloads_are_immutable_facts():
    with pytest.raises(ValidationError):
        _review().grade = "B"

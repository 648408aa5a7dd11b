"""Registration's workflow rules without I/O: launch validation, phase windows, clusters,
registrations' titles, pledges and their results, works' approvers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from contracts.events.base import Actor
from services.registration import (
    campaign_domain,
    cluster_domain,
    participation_domain,
    works_domain,
)
from services.registration.campaign_domain import CampaignReach, PhaseDates
from services.runtime.domain_errors import DomainError

ACTOR = Actor(subject="t", role="city_admin")
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def launch(**overrides) -> dict:
    return {"organizer_unit_id": "u-hanoi", "year": 2026, "theme": "Lao động giỏi",
            "phases": [{"phase_id": "p1", "name": "Đợt 1", "starts_on": "2026-01-01",
                        "ends_on": "2026-06-30"},
                       {"phase_id": "p2", "name": "Đợt 2", "starts_on": "2026-07-01",
                        "ends_on": "2026-12-31", "kind": "peak"}]} | overrides


def test_a_launch_becomes_its_event_with_default_rule_sets():
    event = campaign_domain.campaign_launched(
        campaign_domain.LaunchCampaign.model_validate(launch()), NOW, ACTOR)
    assert event.campaign_id.startswith("cmp-")
    assert [p.kind for p in event.phases] == ["regular", "peak"]
    assert event.scoring.participation_points == campaign_domain.ScoringRules().participation_points


@pytest.mark.parametrize(("change", "needle"), [
    ({"phases": [launch()["phases"][0], launch()["phases"][0] | {"phase_id": "p3"}]},
     "starts before"),
    ({"phases": [launch()["phases"][0] | {"ends_on": "2025-12-01"}]}, "ends before"),
    ({"phases": [launch()["phases"][0]] * 2}, "repeated"),
    ({"year": 2027}, "does not touch"),
    ({"movements": ["a", "a"]}, "once"),
    ({"phases": [launch()["phases"][0] | {"starts_on": 20260101}]}, "YYYY-MM-DD"),
])
def test_a_bad_launch_is_refused(change, needle):
    with pytest.raises(ValidationError, match=needle):
        campaign_domain.LaunchCampaign.model_validate(launch(**change))


def test_a_rule_set_is_checked_against_the_contracts_model_and_names_the_field():
    command = campaign_domain.LaunchCampaign.model_validate(
        launch(awards={"titles": [{"title": "good_worker", "subject_kind": "member",
                                   "levels": ["galactic"]}]}))
    with pytest.raises(campaign_domain.RulesInvalid) as refused:
        campaign_domain.rule_sets(command)
    assert refused.value.field == "awards.titles.0.levels.0"


REACH = CampaignReach("cmp", "u-hanoi", 2026, {
    "p1": PhaseDates("p1", "Đợt 1", date(2026, 1, 1), date(2026, 6, 30))})


@pytest.mark.parametrize(("day", "window", "closed", "code"), [
    (date(2025, 12, 31), "entries", False, "phase_not_started"),
    (date(2026, 7, 1), "entries", False, "phase_ended"),
    (date(2026, 3, 1), "entries", True, "phase_closed"),
    (date(2026, 7, 15), "reckoning", True, "phase_closed"),
    (date(2025, 12, 31), "reckoning", False, "phase_not_started"),
])
def test_a_phase_turns_away_what_falls_outside_its_window(day, window, closed, code):
    with pytest.raises(DomainError) as refused:
        campaign_domain.check_window(REACH, "p1", day, window, closed=closed)
    assert refused.value.code == code and refused.value.field == "phase_id"


def test_a_phase_takes_entries_on_its_days_and_reckoning_until_it_closes():
    assert campaign_domain.check_window(REACH, "p1", date(2026, 6, 30), "entries").phase_id == "p1"
    assert campaign_domain.check_window(REACH, "p1", date(2026, 9, 1), "reckoning")
    with pytest.raises(campaign_domain.PhaseNotInCampaign):
        campaign_domain.check_window(REACH, "p9", date(2026, 3, 1), "entries")


def test_a_cluster_groups_distinct_units_other_than_its_organiser_within_the_bounds():
    body = {"name": "Cụm 1", "organizer_unit_id": "u-w", "year": 2026,
            "member_unit_ids": [f"u-{i}" for i in range(5)]}
    command = cluster_domain.FormCluster.model_validate(body)
    assert command.starts == date(2026, 1, 1)
    cluster_domain.check_size(command, 5, 11)
    with pytest.raises(cluster_domain.ClusterSize):
        cluster_domain.check_size(command, 6, 11)
    for bad in ({"member_unit_ids": ["u-1", "u-1"]}, {"member_unit_ids": ["u-w", "u-1"]},
                {"effective_from": "2025-05-01"}):
        with pytest.raises(ValidationError):
            cluster_domain.FormCluster.model_validate(body | bad)


def registration(kind: str, titles: list[str]):
    return participation_domain.RegisterForEmulation.model_validate(
        {"campaign_id": "c", "phase_id": "p", "subject_kind": kind, "subject_id": "s",
         "titles": titles})


def test_titles_go_to_the_subjects_they_are_for():
    participation_domain.check_titles(registration("unit", ["emulation_flag",
                                                            "certificate_of_merit"]), None)
    participation_domain.check_titles(registration("member", ["good_at_work_and_home"]),
                                      "female")
    with pytest.raises(participation_domain.TitleNotForSubject):
        participation_domain.check_titles(registration("unit", ["good_worker"]), None)
    with pytest.raises(participation_domain.TitleNotForSubject):
        participation_domain.check_titles(registration("member", ["emulation_flag"]), "male")
    with pytest.raises(participation_domain.TitleWomenOnly):
        participation_domain.check_titles(registration("member", ["good_at_work_and_home"]),
                                          "male")


def pledge(**overrides):
    return participation_domain.SignPledge.model_validate({
        "pledge_id": "pl-1", "campaign_id": "c", "phase_id": "p", "cluster_id": "cl",
        "targets": [{"target_id": "sk", "description": "Sáng kiến", "target_value": 10,
                     "unit_of_measure": "sáng kiến"},
                    {"target_id": "dv", "description": "Đoàn viên", "target_value": "12.5",
                     "unit_of_measure": "%"}]} | overrides)


def test_a_pledge_is_one_event_per_signing_unit_naming_the_others():
    command = pledge()
    units = participation_domain.signing_units(command, "cl", ["u-a", "u-b", "u-c"])
    events = participation_domain.pledges_signed(command, units, date(2026, 5, 1), ACTOR)
    assert [(e.unit_id, e.counterpart_unit_ids) for e in events] == [
        ("u-a", ["u-b", "u-c"]), ("u-b", ["u-a", "u-c"]), ("u-c", ["u-a", "u-b"])]
    assert events[0].targets[1].target_value == Decimal("12.5")
    with pytest.raises(participation_domain.NotInCluster):
        participation_domain.signing_units(pledge(unit_ids=["u-a", "u-x"]), "cl", units)
    with pytest.raises(participation_domain.SignedInFuture):
        participation_domain.pledges_signed(pledge(signed_on="2026-05-02"), units,
                                            date(2026, 5, 1), ACTOR)


@pytest.mark.parametrize("bad", [True, "ten", {"v": 1}, -1, "1e400"])
def test_an_amount_is_a_number_or_a_decimal_string(bad):
    with pytest.raises(ValidationError):
        pledge(targets=[{"target_id": "sk", "description": "x", "target_value": bad,
                         "unit_of_measure": "%"}])


def test_a_target_is_met_when_the_value_achieved_reaches_the_pledged_one():
    stored = {"pledge_id": "pl-1", "campaign_id": "c", "phase_id": "p",
              "targets": [{"target_id": "sk", "target_value": "10"},
                          {"target_id": "dv", "target_value": "12.5"}]}
    report = participation_domain.ReportResults.model_validate(
        {"unit_id": "u-a", "results": [{"target_id": "sk", "achieved_value": 10},
                                       {"target_id": "dv", "achieved_value": "12.4"}]})
    event = participation_domain.results_reported(stored, report, NOW, ACTOR)
    assert [(r.target_id, r.met) for r in event.results] == [("sk", True), ("dv", False)]
    partial = participation_domain.ReportResults.model_validate(
        {"unit_id": "u-a", "results": [{"target_id": "zz", "achieved_value": 1}]})
    with pytest.raises(participation_domain.ResultsIncomplete) as refused:
        participation_domain.results_reported(stored, partial, NOW, ACTOR)
    assert "missing sk, dv" in refused.value.message and "no target zz" in refused.value.message


def test_a_plaque_is_attached_by_a_union_above_the_work_at_its_level():
    works_domain.check_approver("u-ward", True, "u-school")
    for approver, holds in (("u-school", True), ("u-other", False)):
        with pytest.raises(works_domain.ApproverNotAbove):
            works_domain.check_approver(approver, holds, "u-school")
    work = {"work_id": "wk", "campaign_id": "c", "phase_id": "p", "unit_id": "u-school",
            "name": "Sân chơi", "value_vnd": 5, "occasion": "28/7", "occasion_date": None}
    assert works_domain.work_registered(work, "upper_level_union", NOW,
                                        ACTOR).plaque_level == "district"
    assert works_domain.work_registered(work, "city_federation", NOW,
                                        ACTOR).plaque_level == "city"

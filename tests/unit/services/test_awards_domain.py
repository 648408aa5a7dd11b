"""Award eligibility from a subject's standing, under the default rule set."""

from __future__ import annotations

from decimal import Decimal

from contracts.events.rules import AwardRules, TitleRule
from contracts.events.scores import ScoreChanged
from services.awards.domain import (
    Eligibility,
    Standing,
    changed,
    evaluate,
    is_computed,
    path_to_titles,
    standing_updates,
)

RULES = AwardRules()


def member(points: int | str, accepted: int = 0) -> Standing:
    return Standing("member", Decimal(points), accepted)


def by_title(results: list[Eligibility]) -> dict[str, Eligibility]:
    return {e.title: e for e in results}


def test_good_worker_needs_the_minimum_points():
    assert by_title(evaluate(member("19.5"), RULES))["good_worker"] == Eligibility(
        "good_worker", "grassroots", False, "min_points_not_reached")
    assert by_title(evaluate(member(20), RULES))["good_worker"] == Eligibility(
        "good_worker", "grassroots", True, "criteria_met")


def test_creative_labour_needs_an_accepted_initiative_whatever_the_points():
    assert by_title(evaluate(member(500, accepted=0), RULES))["creative_labour"] == Eligibility(
        "creative_labour", "grassroots", False, "accepted_initiatives_missing")
    assert by_title(evaluate(member(0, accepted=1), RULES))["creative_labour"].eligible


def test_points_are_checked_before_accepted_initiatives():
    rule = TitleRule(title="creative_labour", subject_kind="member", levels=["district"],
                     min_points=Decimal(10), min_accepted_initiatives=2)
    [result] = evaluate(member(5, accepted=0), AwardRules(titles=[rule]))
    assert result == Eligibility("creative_labour", "district", False, "min_points_not_reached")


def test_only_titles_with_computable_criteria_are_evaluated_for_members():
    titles = set(by_title(evaluate(member(1000, accepted=10), RULES)))
    assert titles == {"advanced_labourer", "good_worker", "creative_labour"}


def test_titles_reserved_to_women_or_officers_are_left_to_the_approval_workflow():
    women = TitleRule(title="good_at_work_and_home", subject_kind="member",
                      levels=["grassroots"], min_points=Decimal(1), women_only=True)
    officers = TitleRule(title="outstanding_officer", subject_kind="member",
                         levels=["grassroots"], min_points=Decimal(1), officers_only=True)
    assert not is_computed(women) and not is_computed(officers)
    assert evaluate(member(100), AwardRules(titles=[women, officers])) == []


def test_titles_without_criteria_are_nominated_by_peers_not_computed():
    deeds = next(r for r in RULES.titles if r.title == "good_deeds")
    assert not is_computed(deeds)


def test_of_the_default_unit_titles_only_the_emulation_flag_is_computed_from_scores():
    assert [(e.title, e.level, e.eligible) for e in evaluate(
        Standing("unit", Decimal(10_000), 50), RULES)] == [("emulation_flag", "district", True)]


def test_eligibility_is_evaluated_at_the_titles_lowest_level():
    rule = TitleRule(title="good_worker", subject_kind="member", levels=["district", "city"],
                     min_points=Decimal(1))
    [result] = evaluate(member(5), AwardRules(titles=[rule]))
    assert result.level == "district"


def test_a_first_evaluation_is_always_a_change():
    current = evaluate(member(5), RULES)
    assert changed({}, current) == current


def test_unchanged_eligibility_produces_no_change():
    current = evaluate(member(5), RULES)
    announced = {(e.title, e.level): e.eligible for e in current}
    assert changed(announced, current) == []


def test_a_change_is_reported_only_for_the_titles_that_flipped():
    announced = {("good_worker", "grassroots"): False, ("creative_labour", "grassroots"): False,
                 ("advanced_labourer", "grassroots"): True}
    flipped = changed(announced, evaluate(member(25), RULES))
    assert flipped == [Eligibility("good_worker", "grassroots", True, "criteria_met")]


def test_a_new_reason_for_the_same_verdict_is_not_a_change():
    announced = {("good_worker", "grassroots"): False}
    current = [Eligibility("good_worker", "grassroots", False, "some_other_reason")]
    assert changed(announced, current) == []


def criteria_texts(result: Eligibility) -> list[tuple[str, bool, str]]:
    return [(c.criterion, c.met, c.text) for c in result.criteria]


def test_each_criterion_says_whether_it_is_met_and_how_far_short():
    results = by_title(evaluate(member(8), RULES))
    assert criteria_texts(results["good_worker"]) == [
        ("min_points", False, "12 points short (8 of 20)")]
    assert results["good_worker"].criteria[0].short_by == Decimal(12)
    assert criteria_texts(results["creative_labour"]) == [
        ("min_accepted_initiatives", False, "needs 1 more accepted initiative (0 of 1)")]
    met = by_title(evaluate(member("20.5", accepted=1), RULES))
    assert criteria_texts(met["good_worker"]) == [
        ("min_points", True, "points reached (20.5 of 20)")]
    assert met["good_worker"].criteria[0].short_by == 0
    assert criteria_texts(met["creative_labour"]) == [
        ("min_accepted_initiatives", True, "accepted initiatives reached (1 of 1)")]


def test_a_title_with_two_criteria_lists_both():
    rule = TitleRule(title="creative_labour", subject_kind="member", levels=["district"],
                     min_points=Decimal(10), min_accepted_initiatives=2)
    [result] = evaluate(member("9.5", accepted=1), AwardRules(titles=[rule]))
    assert criteria_texts(result) == [
        ("min_points", False, "0.5 points short (9.5 of 10)"),
        ("min_accepted_initiatives", False, "needs 1 more accepted initiative (1 of 2)")]
    assert result.criteria[0].as_json() == {
        "criterion": "min_points", "required": "10", "actual": "9.5", "met": False,
        "short_by": "0.5", "text": "0.5 points short (9.5 of 10)"}


def change(total: int, version: int | None, reason: str = "initiative_submitted",
           unit_id: str = "u-1") -> ScoreChanged:
    return ScoreChanged(unit_id=unit_id, campaign_id="c", phase_id="p", subject_kind="member",
                        subject_id="m-1", points_delta=Decimal(1), total_points=Decimal(total),
                        reason=reason, source_event_id="s", subject_version=version)


def test_the_highest_version_of_a_batch_gives_the_total_unit_and_cause():
    [update] = standing_updates([
        ("e3", change(30, 3, unit_id="u-3")), ("e1", change(40, 1, "initiative_accepted")),
        ("e2", change(20, 2))])
    assert (update.total_points, update.unit_id, update.cause_id, update.version) == (
        Decimal(30), "u-3", "e3", 3)


def test_unversioned_changes_keep_the_larger_total_and_lose_to_a_versioned_one():
    [legacy] = standing_updates([("e1", change(30, None)), ("e2", change(20, None))])
    assert (legacy.total_points, legacy.cause_id, legacy.version) == (Decimal(30), "e2", None)
    [mixed] = standing_updates([("e1", change(10, 1)), ("e2", change(50, None))])
    assert (mixed.total_points, mixed.cause_id, mixed.version) == (Decimal(10), "e1", 1)


def stored(title: str, eligible: bool, *texts: str, phase: str = "p1") -> dict:
    return {"campaign_id": "c", "phase_id": phase, "title": title, "level": "grassroots",
            "eligible": eligible,
            "criteria": [{"criterion": "min_points", "met": "reached" in t, "text": t}
                         for t in texts]}


def test_the_path_to_titles_lists_what_remains_for_each_member_title_of_each_phase():
    paths = path_to_titles([
        stored("good_worker", False, "12 points short (8 of 20)"),
        stored("creative_labour", True, "accepted initiatives reached (1 of 1)"),
        stored("good_worker", True, "points reached (30 of 20)", phase="p2"),
    ], "member", RULES)
    remaining = {(p.phase_id, p.title): (p.eligible, p.remaining) for p in paths}
    assert remaining[("p1", "good_worker")] == (False, ("12 points short (8 of 20)",))
    assert remaining[("p1", "creative_labour")] == (True, ())
    assert remaining[("p2", "good_worker")] == (True, ())
    assert remaining[("p2", "creative_labour")] == (None, ("not evaluated yet",))
    assert remaining[("p1", "good_at_work_and_home")] == (
        None, ("reserved to women members: decided on nomination (bình xét)",))
    assert remaining[("p1", "outstanding_officer")] == (
        None, ("reserved to union officers: decided on nomination (bình xét)",))
    assert remaining[("p1", "good_deeds")] == (
        None, ("no score criteria: decided on nomination by peers (bình xét)",))
    assert remaining[("p1", "grassroots_emulation_fighter")] == (None, (
        "decided in the proposal round at the phase's end: needs an initiative accepted at "
        "grassroots level, advanced_labourer at grassroots level",))
    assert [p.title for p in paths if p.phase_id == "p1"] == [
        "advanced_labourer", "grassroots_emulation_fighter", "provincial_emulation_fighter",
        "national_emulation_fighter", "good_worker", "creative_labour", "good_at_work_and_home",
        "good_deeds",
        "outstanding_officer", "exemplary_family"]  # the rules' order, members' titles only

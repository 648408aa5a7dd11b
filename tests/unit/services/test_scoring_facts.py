"""What each consumed event establishes as a fact scoring prices."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from contracts import new_event
from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted
from contracts.events.participation import (
    EmulationRegistered,
    PledgeResultReported,
    PledgeSigned,
    PledgeTarget,
    TargetResult,
)
from services.scoring import facts

AT = datetime(2025, 6, 1, tzinfo=UTC)


def event(data):
    return new_event(data, source="/thidua/registration", district="d-dongda")


def test_a_submission_credits_its_unit_and_each_author_once_with_participation():
    e = event(InitiativeSubmitted(
        initiative_id="ini-1", campaign_id="c", phase_id="p", unit_id="u-det-8-3",
        title="Cải tiến khung dệt", field="kỹ thuật", claimed_benefit_vnd=50_000_000,
        authors=[InitiativeAuthor(member_id=m, full_name=f"Tác giả {m}", direct_worker=True)
                 for m in ("m-1", "m-2", "m-1")],
        submitted_at=AT))
    [s] = facts.submissions([e])
    assert s.author_ids == ("m-1", "m-2")
    assert (s.fact.fact_id, s.fact.rule, s.fact.credit_unit, s.fact.member_ids) == (
        "submission:ini-1", "initiative_submitted", True, ("m-1", "m-2"))
    assert (s.fact.source_event_id, s.fact.district) == (e.id, "d-dongda")


def test_a_member_registering_credits_the_member_not_the_unit():
    [member, unit] = facts.registrations([
        event(EmulationRegistered(registration_id=r, campaign_id="c", phase_id="p",
                                  unit_id="u-1", subject_kind=k, subject_id=s, registered_at=AT))
        for r, k, s in (("r-1", "member", "m-9"), ("r-2", "unit", "u-1"))])
    assert (member.credit_unit, member.member_ids) == (False, ("m-9",))
    assert (unit.credit_unit, unit.member_ids) == (True, ())


def test_a_pledge_target_is_pending_until_a_result_makes_it_met_or_missed():
    signed = facts.pledged_targets([event(PledgeSigned(
        pledge_id="pl-1", campaign_id="c", phase_id="p", unit_id="u-1", signed_on=date(2025, 1, 5),
        targets=[PledgeTarget(target_id=t, description="Sáng kiến", target_value=Decimal(10),
                              unit_of_measure="sáng kiến") for t in ("t1", "t2")]))])
    assert [(f.fact_id, f.rule, f.target_value) for f in signed] == [
        ("pledge:pl-1:u-1:t1", "pledge_target_pending", Decimal(10)),
        ("pledge:pl-1:u-1:t2", "pledge_target_pending", Decimal(10))]
    reported = facts.target_results([event(PledgeResultReported(
        pledge_id="pl-1", campaign_id="c", phase_id="p", unit_id="u-1", reported_at=AT,
        results=[TargetResult(target_id="t1", achieved_value=Decimal(12), met=True),
                 TargetResult(target_id="t2", achieved_value=Decimal(4), met=False)]))])
    assert [(f.fact_id, f.rule, f.achieved_value) for f in reported] == [
        ("pledge:pl-1:u-1:t1", "pledge_target_met", Decimal(12)),
        ("pledge:pl-1:u-1:t2", "pledge_target_missed", Decimal(4))]


def test_each_signing_unit_of_a_pledge_keeps_its_own_targets_and_results():
    signed = facts.pledged_targets([event(PledgeSigned(
        pledge_id="pl-1", campaign_id="c", phase_id="p", unit_id=unit, signed_on=date(2025, 1, 5),
        counterpart_unit_ids=[other],
        targets=[PledgeTarget(target_id="t1", description="Sáng kiến", target_value=Decimal(10),
                              unit_of_measure="sáng kiến")]))
        for unit, other in (("u-1", "u-2"), ("u-2", "u-1"))])
    reported = facts.target_results([event(PledgeResultReported(
        pledge_id="pl-1", campaign_id="c", phase_id="p", unit_id=unit, reported_at=AT,
        results=[TargetResult(target_id="t1", achieved_value=value, met=value >= 10)]))
        for unit, value in (("u-1", Decimal(12)), ("u-2", Decimal(4)))])
    assert [(f.fact_id, f.unit_id) for f in signed] == [
        ("pledge:pl-1:u-1:t1", "u-1"), ("pledge:pl-1:u-2:t1", "u-2")]
    assert [(f.fact_id, f.rule) for f in facts.latest_per_fact([*signed, *reported])] == [
        ("pledge:pl-1:u-1:t1", "pledge_target_met"), ("pledge:pl-1:u-2:t1", "pledge_target_missed")]


def test_one_statement_gets_the_latest_state_of_each_fact():
    [first] = facts.target_results([event(PledgeResultReported(
        pledge_id="pl-1", campaign_id="c", phase_id="p", unit_id="u-1", reported_at=AT,
        results=[TargetResult(target_id="t1", achieved_value=Decimal(3), met=False)]))])
    [later] = facts.target_results([event(PledgeResultReported(
        pledge_id="pl-1", campaign_id="c", phase_id="p", unit_id="u-1",
        reported_at=datetime(2025, 6, 20, tzinfo=UTC),
        results=[TargetResult(target_id="t1", achieved_value=Decimal(11), met=True)]))])
    assert facts.latest_per_fact([later, first]) == [later]
    assert facts.latest_per_fact([first, later]) == [later]

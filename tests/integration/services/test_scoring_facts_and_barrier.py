"""Scoring from facts and rules, and the phase-close barrier, through the real consumer and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from contracts import CloudEvent, new_event
from contracts.events.campaigns import CampaignLaunched, Phase, PhaseClosed
from contracts.events.initiatives import InitiativeAuthor, InitiativeReviewed, InitiativeSubmitted
from contracts.events.participation import (
    EmulationRegistered,
    PledgeResultReported,
    PledgeSigned,
    PledgeTarget,
    TargetResult,
)
from contracts.events.rules import ScoringRules
from services.scoring import queries
from services.scoring.barrier import PhaseBarrier
from services.scoring.handlers import handlers
from services.scoring.repository import ScoringRepository
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

SCORING = ServiceUnderTest(
    "scoring", handlers, ScoringRepository,
    Path(__file__).parents[3] / "services" / "scoring" / "migrations",
)
CAMPAIGN, PHASE = "cmp-2025-hn", "cmp-2025-hn-p1"
AT = datetime(2025, 6, 1, tzinfo=UTC)
SUBMITTED, REVIEWED = "thidua.initiative.submitted.v1", "thidua.initiative.reviewed.v1"


@pytest.fixture(scope="module")
async def scoring(database_url):
    async with open_harness(database_url, SCORING) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(scoring):
    await scoring.reset()


def ev(data) -> CloudEvent:
    return new_event(data, source="/thidua/registration", district="d-dongda")


def submitted(initiative_id: str, unit_id: str = "u-det", authors=("m-1",)) -> CloudEvent:
    return ev(InitiativeSubmitted(
        initiative_id=initiative_id, campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=unit_id,
        title="Cải tiến dây chuyền", field="kỹ thuật", claimed_benefit_vnd=120_000_000,
        authors=[InitiativeAuthor(member_id=m, full_name=f"Tác giả {m}", direct_worker=True)
                 for m in authors], submitted_at=AT))


def reviewed(initiative_id: str, level: str, grade: str | None = "A", *, unit_id="u-det",
             outcome="accepted", benefit=0, day=10) -> CloudEvent:
    return ev(InitiativeReviewed(
        initiative_id=initiative_id, campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=unit_id,
        outcome=outcome, level=level, grade=grade, recognised_benefit_vnd=benefit,
        council_unit_id="u-council", reviewed_at=datetime(2025, 6, day, tzinfo=UTC)))


def launched(scoring_rules: ScoringRules, at: datetime = AT) -> CloudEvent:
    return ev(CampaignLaunched(
        campaign_id=CAMPAIGN, organizer_unit_id="u-ldld-hn", year=2025, theme="Thi đua 2025",
        phases=[Phase(phase_id=PHASE, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 6, 30))],
        scoring=scoring_rules, launched_at=at))


def closed(**counts: int) -> CloudEvent:
    return ev(PhaseClosed(
        campaign_id=CAMPAIGN, phase_id=PHASE, closed_at=datetime(2025, 7, 1, tzinfo=UTC),
        closed_by_unit_id="u-ldld-hn",
        accepted_counts={f"thidua.{k.replace('__', '.')}.v1": n for k, n in counts.items()}))


async def totals(harness) -> dict[tuple[str, str], Decimal]:
    rows = await harness.pool.fetch("SELECT subject_kind, subject_id, total_points FROM scores")
    return {(r[0], r[1]): r[2] for r in rows}


async def test_a_higher_councils_acceptance_replaces_the_lower_ones_points(scoring):
    await scoring.apply(submitted("ini-1", authors=("m-1", "m-2")))
    await scoring.apply(reviewed("ini-1", "grassroots", "A"))
    # submission 2 + grassroots A 10 = 12
    assert await totals(scoring) == {("unit", "u-det"): 12, ("member", "m-1"): 12,
                                     ("member", "m-2"): 12}
    await scoring.apply(reviewed("ini-1", "district", "B", day=20))
    # district B is 14 under the defaults: it replaces the grassroots 10
    assert await totals(scoring) == {("unit", "u-det"): 16, ("member", "m-1"): 16,
                                     ("member", "m-2"): 16}
    lines = await scoring.pool.fetch(
        """SELECT points, reason FROM score_entries WHERE subject_id = 'm-1'
           ORDER BY entry_id""")
    assert [(r[0], r[1]) for r in lines] == [
        (2, "initiative_submitted"), (10, "initiative_accepted"), (4, "initiative_accepted")]
    changes = [e.data for e in await scoring.emitted()]
    assert [(c.subject_id, c.points_delta, c.total_points, c.subject_version)
            for c in changes if c.subject_id == "m-1"] == [
        ("m-1", 2, 2, 1), ("m-1", 10, 12, 2), ("m-1", 4, 16, 3)]
    # a lower council's later decision does not take the points back
    await scoring.apply(reviewed("ini-1", "grassroots", "C", day=25))
    assert (await totals(scoring))[("unit", "u-det")] == 16


async def test_a_review_seen_before_its_submission_credits_the_authors_when_it_arrives(scoring):
    await scoring.apply(reviewed("ini-2", "city", "A"))
    assert await totals(scoring) == {("unit", "u-det"): 40}
    await scoring.apply(submitted("ini-2", authors=("m-7",)))
    assert await totals(scoring) == {("unit", "u-det"): 42, ("member", "m-7"): 42}


async def test_a_rejection_at_the_only_level_earns_nothing_and_stays_in_the_breakdown(scoring):
    await scoring.apply(submitted("ini-3"), reviewed("ini-3", "grassroots", None,
                                                     outcome="rejected"))
    assert await totals(scoring) == {("unit", "u-det"): 2, ("member", "m-1"): 2}
    rows = await scoring.pool.fetch(
        "SELECT fact_id, rule, points FROM fact_points WHERE subject_kind = 'unit' ORDER BY 1")
    assert [tuple(r) for r in rows] == [("initiative:ini-3", "initiative_rejected", 0),
                                        ("submission:ini-3", "initiative_submitted", 2)]


async def test_the_breakdown_of_a_unit_or_a_member_lists_what_each_fact_earns_it(scoring):
    await scoring.apply(submitted("ini-5", authors=("m-1", "m-2")),
                        reviewed("ini-5", "grassroots", "A"))
    await scoring.apply(submitted("ini-6", authors=("m-2",)),
                        reviewed("ini-6", "grassroots", None, outcome="rejected"))
    await scoring.apply(reviewed("ini-7", "district", "B"), submitted("ini-8", unit_id="u-other", authors=("m-9",)))
    await scoring.apply(submitted("ini-7", authors=("m-2",)))  # credits m-2 with the review

    async def breakdown(kind, subject, campaign=None, after="", limit=100):
        rows = await queries.breakdown_of(scoring.pool, kind, subject, campaign, None, after,
                                          limit)
        return [(r["fact_id"], r["rule"], r["points"]) for r in rows]

    assert await breakdown("unit", "u-det") == [
        ("initiative:ini-5", "initiative_accepted", 10),
        ("initiative:ini-6", "initiative_rejected", 0),
        ("initiative:ini-7", "initiative_accepted", 14),
        ("submission:ini-5", "initiative_submitted", 2),
        ("submission:ini-6", "initiative_submitted", 2),
        ("submission:ini-7", "initiative_submitted", 2)]
    assert await breakdown("member", "m-2") == [
        ("initiative:ini-5", "initiative_accepted", 10),
        ("initiative:ini-6", "initiative_rejected", 0),
        ("initiative:ini-7", "initiative_accepted", 14),
        ("submission:ini-5", "initiative_submitted", 2),
        ("submission:ini-6", "initiative_submitted", 2),
        ("submission:ini-7", "initiative_submitted", 2)]
    assert await breakdown("member", "m-1") == [
        ("initiative:ini-5", "initiative_accepted", 10),
        ("submission:ini-5", "initiative_submitted", 2)]
    # each subject's breakdown adds up to its total
    for kind, subject in (("unit", "u-det"), ("member", "m-1"), ("member", "m-2")):
        assert sum(p for *_, p in await breakdown(kind, subject)) == (
            await totals(scoring))[(kind, subject)]
    # a cursor pages on by fact id; another campaign, another unit's or an unknown id: nothing
    assert await breakdown("unit", "u-det", after="initiative:ini-7", limit=2) == [
        ("submission:ini-5", "initiative_submitted", 2),
        ("submission:ini-6", "initiative_submitted", 2)]
    assert await breakdown("unit", "u-det", campaign="cmp-other") == []
    assert await breakdown("unit", "u-other") == [("submission:ini-8", "initiative_submitted", 2)]
    assert await breakdown("member", "u-det") == []
    assert await breakdown("unit", "m-1") == []


async def test_the_campaigns_own_rules_price_its_facts_even_when_its_launch_comes_late(scoring):
    await scoring.apply(submitted("ini-4"), reviewed("ini-4", "grassroots", "A"))
    assert (await totals(scoring))[("unit", "u-det")] == 12
    rules = ScoringRules(participation_points=Decimal(1), initiative_points={
        "grassroots": {"A": Decimal("7.5"), "B": Decimal(5), "C": Decimal(3)}})
    launch = launched(rules)
    await scoring.apply(launch)
    assert await totals(scoring) == {("unit", "u-det"): Decimal("8.5"),
                                     ("member", "m-1"): Decimal("8.5")}
    last = (await scoring.emitted())[-1]
    assert (last.causationid, last.data.total_points) == (launch.id, Decimal("8.5"))
    await scoring.apply(launch)  # redelivered: nothing changes, nothing announced
    assert (await scoring.emitted())[-1].id == last.id


async def test_pledge_targets_earn_points_when_reported_met_and_registrations_participation(
    scoring,
):
    signed = ev(PledgeSigned(
        pledge_id="pl-1", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id="u-det",
        signed_on=date(2025, 1, 5),
        targets=[PledgeTarget(target_id=t, description="Sáng kiến", target_value=Decimal(5),
                              unit_of_measure="sáng kiến") for t in ("t1", "t2")]))
    report = ev(PledgeResultReported(
        pledge_id="pl-1", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id="u-det", reported_at=AT,
        results=[TargetResult(target_id="t1", achieved_value=Decimal(7), met=True),
                 TargetResult(target_id="t2", achieved_value=Decimal(2), met=False)]))
    member_registers = ev(EmulationRegistered(
        registration_id="r-1", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id="u-det",
        subject_kind="member", subject_id="m-5", registered_at=AT))
    await scoring.apply(signed)
    assert await totals(scoring) == {}
    await scoring.apply(report, member_registers)
    assert await totals(scoring) == {("unit", "u-det"): 5, ("member", "m-5"): 2}
    await scoring.apply(signed)  # redelivered after the report: the targets stay reported
    assert await totals(scoring) == {("unit", "u-det"): 5, ("member", "m-5"): 2}


async def test_the_close_overtaking_the_last_initiatives_finalizes_only_once_they_are_applied(
    scoring,
):
    first, second = submitted("ini-a", "u-1"), submitted("ini-b", "u-2", authors=("m-2",))
    await scoring.apply(first)
    await scoring.apply(closed(initiative__submitted=2))
    assert await scoring.emitted("thidua.phase.standings_finalized.v1") == []
    await scoring.apply(second)
    everything = await scoring.emitted()
    assert everything[-1].type == "thidua.phase.standings_finalized.v1"
    final = everything[-1].data
    changes = [e for e in everything if e.type == "thidua.score.changed.v1"]
    assert (final.scope_kind, final.scope_id, final.unit_id) == ("phase", PHASE, "u-ldld-hn")
    assert final.score_changed_count == len(changes) == 4
    assert await totals(scoring) == {("unit", "u-1"): 2, ("member", "m-1"): 2,
                                     ("unit", "u-2"): 2, ("member", "m-2"): 2}


async def test_a_close_after_everything_finalizes_at_once_and_a_redelivered_close_does_nothing(
    scoring,
):
    review = reviewed("ini-a", "grassroots", "B", unit_id="u-1")
    await scoring.apply(submitted("ini-a", "u-1"), review)
    close = closed(initiative__submitted=1, initiative__reviewed=1)
    await scoring.apply(close)
    await scoring.apply(close)
    finals = await scoring.emitted("thidua.phase.standings_finalized.v1")
    assert len(finals) == 1 and finals[0].causationid == close.id


async def test_events_after_finalization_are_kept_as_late_and_change_nothing(scoring):
    await scoring.apply(submitted("ini-a", "u-1"))
    await scoring.apply(closed(initiative__submitted=1))
    before = await totals(scoring)
    emitted_before = len(await scoring.emitted())
    late = reviewed("ini-a", "city", "A", unit_id="u-1")
    await scoring.apply(late)
    assert await totals(scoring) == before
    assert len(await scoring.emitted()) == emitted_before  # no score.changed after the final
    row = await scoring.pool.fetchrow("SELECT event_type, campaign_id, phase_id FROM late_events")
    assert tuple(row) == (REVIEWED, CAMPAIGN, PHASE)
    # the rules arriving later do not reprice a finalized phase either
    await scoring.apply(launched(ScoringRules(participation_points=Decimal(9))))
    assert await totals(scoring) == before


async def test_a_duplicate_is_applied_and_counted_once_by_the_barrier(scoring):
    event = submitted("ini-a", "u-1")
    await scoring.apply(event, event)
    await scoring.apply(event)
    await scoring.apply(closed(initiative__submitted=2))
    assert await scoring.emitted("thidua.phase.standings_finalized.v1") == []
    await scoring.apply(submitted("ini-b", "u-1"))
    assert len(await scoring.emitted("thidua.phase.standings_finalized.v1")) == 1


async def test_a_burst_of_several_types_for_one_unit_announces_each_subject_once(scoring):
    burst = []
    for n in range(40):
        burst += [submitted(f"ini-{n}", authors=("m-1",)),
                  reviewed(f"ini-{n}", "grassroots", "C")]
    await scoring.apply(*burst)
    announced = await scoring.emitted("thidua.score.changed.v1")
    assert [(e.data.subject_id, e.data.points_delta, e.data.total_points)
            for e in announced] == [("u-det", 280, 280), ("m-1", 280, 280)]
    await scoring.apply(closed(initiative__submitted=40, initiative__reviewed=40))
    [final] = await scoring.emitted("thidua.phase.standings_finalized.v1")
    assert final.data.score_changed_count == 2


async def test_a_pledge_and_its_results_in_one_batch_end_as_the_results_with_the_targets(
    scoring,
):
    signed = ev(PledgeSigned(
        pledge_id="pl-2", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id="u-det",
        signed_on=date(2025, 1, 5),
        targets=[PledgeTarget(target_id=t, description="Sáng kiến", target_value=Decimal(v),
                              unit_of_measure="sáng kiến") for t, v in (("t1", 5), ("t2", 3))]))
    report = ev(PledgeResultReported(
        pledge_id="pl-2", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id="u-det", reported_at=AT,
        results=[TargetResult(target_id="t1", achieved_value=Decimal(7), met=True)]))
    await scoring.apply(report, signed)  # the result first in the batch: the order is the facts'
    rows = await scoring.pool.fetch(
        "SELECT fact_id, rule, target_value, achieved_value, source_event_id, points "
        "FROM facts ORDER BY fact_id")
    assert [tuple(r) for r in rows] == [
        ("pledge:pl-2:u-det:t1", "pledge_target_met", 5, 7, report.id, 5),
        ("pledge:pl-2:u-det:t2", "pledge_target_pending", 3, None, signed.id, 0),
    ]
    assert await totals(scoring) == {("unit", "u-det"): 5}
    await scoring.apply(closed(pledge__signed=1, pledge__result_reported=1))
    [final] = await scoring.emitted("thidua.phase.standings_finalized.v1")
    assert final.data.score_changed_count == 1


async def test_a_close_committed_while_a_batch_waits_for_the_phase_makes_it_take_turns(scoring):
    """The batch read the phase open; the close commits before its share lock is granted: the
    batch then holds the phase exclusively and sees it closed, not finalized."""
    await scoring.apply(submitted("ini-a", "u-1"))
    async with scoring.pool.acquire() as closer, scoring.pool.acquire() as batch:
        closing = closer.transaction()
        await closing.start()
        await PhaseBarrier(closer).close([closed(initiative__submitted=2)])
        applying = batch.transaction()
        await applying.start()
        barrier = PhaseBarrier(batch)
        held = asyncio.create_task(barrier.hold({(CAMPAIGN, PHASE)}))
        await asyncio.sleep(0.3)
        assert not held.done()  # waits for the close
        await closing.commit()
        assert await held == set()  # closed, not finalized
        assert barrier._exclusive == {(CAMPAIGN, PHASE)}
        assert await barrier.finalize_ready(["thidua.initiative.submitted.v1"]) == []
        await applying.rollback()


async def test_the_ledger_shows_a_facts_first_pricing_its_changes_and_its_withdrawal(scoring):
    """A first pricing's lines are kept on the fact, its changes as lines of their own: the
    entries route, the ledger view, totals and versions show each step as it happened."""
    submission, grassroots = submitted("ini-9"), reviewed("ini-9", "grassroots", "A")
    signed = ev(PledgeSigned(
        pledge_id="pl-3", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id="u-det",
        signed_on=date(2025, 1, 5),
        targets=[PledgeTarget(target_id="t1", description="Sáng kiến", target_value=Decimal(5),
                              unit_of_measure="sáng kiến")]))

    def report(met: bool, day: int) -> CloudEvent:
        return ev(PledgeResultReported(
            pledge_id="pl-3", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id="u-det",
            reported_at=datetime(2025, 6, day, tzinfo=UTC),
            results=[TargetResult(target_id="t1", achieved_value=Decimal(6 if met else 3),
                                  met=met)]))

    met, district = report(True, 2), reviewed("ini-9", "district", "B", day=20)
    launch = launched(ScoringRules(pledge_target_met_points=Decimal(8)))
    missed = report(False, 25)
    for batch in ((submission,), (grassroots,), (signed, met), (district,), (launch,),
                  (missed,)):
        await scoring.apply(*batch)
        await scoring.apply(*batch)  # redelivered: nothing more

    pledge, initiative = "pledge:pl-3:u-det:t1", "initiative:ini-9"
    unit_lines = [
        (2, "initiative_submitted", submission.id, "submission:ini-9"),
        (10, "initiative_accepted", grassroots.id, initiative),
        (5, "pledge_target_met", met.id, pledge),
        (4, "initiative_accepted", district.id, initiative),  # district B 14 replaces 10
        (3, "pledge_target_met", launch.id, pledge),  # the campaign's rules: 8 for a target
        (-8, "pledge_target_missed", missed.id, pledge)]  # a later report: withdrawn
    member_lines = [unit_lines[0], unit_lines[1], unit_lines[3]]

    async def route(kind: str, subject: str, after: int = 0, limit: int = 100) -> list[dict]:
        return await queries.entries_of(scoring.pool, kind, subject, after, limit)

    async def view(kind: str, subject: str) -> list[dict]:
        rows = await scoring.pool.fetch(
            """SELECT entry_id, campaign_id, phase_id, points, reason, source_event_id,
                      recorded_at, fact_id
               FROM score_entries WHERE subject_kind = $1 AND subject_id = $2
               ORDER BY entry_id""", kind, subject)
        return [dict(r) for r in rows]

    for kind, subject, expected in (("unit", "u-det", unit_lines),
                                    ("member", "m-1", member_lines)):
        entries = await route(kind, subject)
        assert [(e["points"], e["reason"], e["source_event_id"], e["fact_id"])
                for e in entries] == expected
        assert {(e["campaign_id"], e["phase_id"]) for e in entries} == {(CAMPAIGN, PHASE)}
        assert all(e["recorded_at"] is not None for e in entries)
        assert entries == await view(kind, subject)
        # a page at a time, each page after the last entry id seen
        pages, after = [], 0
        while page := await route(kind, subject, after, 2):
            pages += page
            after = page[-1]["entry_id"]
        assert pages == entries
        assert (await totals(scoring))[(kind, subject)] == sum(p for p, *_ in expected) == 16
        assert await scoring.pool.fetchval(
            "SELECT version FROM scores WHERE subject_kind = $1 AND subject_id = $2",
            kind, subject) == len(expected)
    # only the changes are stored lines; the first pricings are kept on their facts
    assert await scoring.pool.fetchval("SELECT count(*) FROM ledger_changes") == 4
    assert await route("unit", "u-other") == [] and await route("member", "u-det") == []
    # the breakdown gives what each fact earns now
    rows = await scoring.pool.fetch(
        "SELECT fact_id, rule, points FROM fact_points WHERE subject_kind = 'unit' ORDER BY 1")
    assert [tuple(r) for r in rows] == [(initiative, "initiative_accepted", 14),
                                        (pledge, "pledge_target_missed", 0),
                                        ("submission:ini-9", "initiative_submitted", 2)]

"""Awards' handler through the real consumer and PostgreSQL: standings and eligibility changes.

The default rule set (contracts/events/rules.py) computes two member titles at grassroots level:
`good_worker` from 20 points, `creative_labour` from one accepted initiative. Unit titles have
no computable criteria (they are decided on proposal), so a unit's score evaluates nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from itertools import permutations
from pathlib import Path

import pytest

from contracts import CloudEvent, new_event
from contracts.events.initiatives import InitiativeAuthor, InitiativeReviewed
from contracts.events.scores import ScoreChanged
from services.awards import domain
from services.awards import facts_repository as facts
from services.awards.handlers import handlers
from services.awards.repository import AwardsRepository, eligibility_of, hold_phases
from tests.support.events import initiative_submitted
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

AWARDS = ServiceUnderTest(
    "awards", handlers, AwardsRepository,
    Path(__file__).parents[3] / "services" / "awards" / "migrations",
)
CAMPAIGN, PHASE = "cmp-2025-hn", "cmp-2025-hn-p1"


@pytest.fixture(scope="module")
async def awards(database_url):
    async with open_harness(database_url, AWARDS) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(awards):
    await awards.reset()


def score_changed(
    subject_id: str = "m-1", total: int = 8, *, delta: int = 2, kind: str = "member",
    unit_id: str = "u-det-8-3", reason: str = "initiative_submitted",
    correlation_id: str | None = None, district: str | None = "d-dongda",
    version: int | None = None,
) -> CloudEvent:
    data = ScoreChanged(
        unit_id=unit_id, campaign_id=CAMPAIGN, phase_id=PHASE, subject_kind=kind,
        subject_id=subject_id, points_delta=Decimal(delta), total_points=Decimal(total),
        reason=reason, source_event_id="ini-event-1", subject_version=version,
    )
    return new_event(data, source="/thidua/scoring", district=district,
                     correlation_id=correlation_id, subject=subject_id)


def submitted(*member_ids: str, unit_id: str = "u-det-8-3") -> CloudEvent:
    return initiative_submitted(CAMPAIGN, unit_id, authors=[
        InitiativeAuthor(member_id=m, full_name=f"Thành viên {m}", direct_worker=True)
        for m in member_ids])


def reviewed(submission: CloudEvent, level: str = "grassroots",
             outcome: str = "accepted") -> CloudEvent:
    data = InitiativeReviewed(
        initiative_id=submission.data.initiative_id, campaign_id=CAMPAIGN, phase_id=PHASE,
        unit_id=submission.data.unit_id, outcome=outcome, level=level,
        grade="A" if outcome == "accepted" else None,
        recognised_benefit_vnd=90_000_000 if outcome == "accepted" else 0,
        council_unit_id="u-dongda", reviewed_at=datetime.now(UTC))
    return new_event(data, source="/thidua/registration", district="d-dongda")


async def standing(harness, subject_id: str) -> tuple[Decimal, int, str]:
    row = await harness.pool.fetchrow(
        """SELECT total_points, accepted_initiatives, unit_id FROM subject_standings
           WHERE campaign_id = $1 AND phase_id = $2 AND subject_id = $3""",
        CAMPAIGN, PHASE, subject_id)
    return row["total_points"], row["accepted_initiatives"], row["unit_id"]


def decisions(events: list[CloudEvent]) -> list[tuple[str, str, str, bool, str]]:
    return [(e.data.subject_id, e.data.title, e.data.level, e.data.eligible, e.data.reason)
            for e in events]


async def test_score_changes_update_the_subjects_standing(awards):
    await awards.apply(score_changed("m-1", 8))
    assert await standing(awards, "m-1") == (Decimal(8), 0, "u-det-8-3")
    await awards.apply(score_changed("m-1", 12, delta=4))
    assert await standing(awards, "m-1") == (Decimal(12), 0, "u-det-8-3")


async def test_accepted_initiatives_are_counted_once_each_from_their_reviews(awards):
    first, second, rejected = submitted("m-1"), submitted("m-1", "m-2"), submitted("m-1")
    await awards.apply(first, second, rejected, score_changed("m-1", 12))
    accepted = reviewed(first)
    await awards.apply(accepted, reviewed(rejected, outcome="rejected"))
    await awards.apply(accepted)  # redelivered
    await awards.apply(reviewed(first, "district"))  # a higher level: the same initiative
    await awards.apply(reviewed(second))
    await awards.apply(score_changed("m-1", 22, delta=10, reason="initiative_accepted"))
    assert await standing(awards, "m-1") == (Decimal(22), 2, "u-det-8-3")


async def test_a_score_changes_reason_counts_no_initiative(awards):
    await awards.apply(score_changed("m-1", 10, delta=10, reason="initiative_accepted"))
    assert (await standing(awards, "m-1"))[1] == 0
    assert ("m-1", "creative_labour", "grassroots", False, "accepted_initiatives_missing") in (
        decisions(await awards.emitted()))


async def test_an_acceptance_coalesced_into_another_reason_still_counts(awards):
    # Scoring coalesced the acceptance's points with a later line: the change names only that.
    submission = submitted("m-1")
    await awards.apply(submission, reviewed(submission))
    await awards.apply(score_changed("m-1", 14, delta=14, reason="initiative_submitted"))
    assert await standing(awards, "m-1") == (Decimal(14), 1, "u-det-8-3")
    assert ("m-1", "creative_labour", "grassroots", True, "criteria_met") in decisions(
        await awards.emitted())


async def test_a_review_arriving_after_the_score_makes_its_authors_eligible(awards):
    submission = submitted("m-1", "m-2")
    await awards.apply(submission, score_changed("m-1", 14, delta=14),
                       score_changed("m-2", 4, unit_id="u-may-10", district="d-hoangmai"))
    announced = len(await awards.emitted())
    review = reviewed(submission, "district")
    await awards.apply(review)
    emitted = (await awards.emitted())[announced:]
    assert sorted(decisions(emitted)) == [
        ("m-1", "creative_labour", "grassroots", True, "criteria_met"),
        ("m-2", "creative_labour", "grassroots", True, "criteria_met")]
    assert {(e.causationid, e.data.unit_id) for e in emitted} == {
        (review.id, "u-det-8-3"), (review.id, "u-may-10")}
    assert (await standing(awards, "m-2"))[1] == 1
    rows = {r["title"]: r for r in await eligibility_of(awards.pool, "member", "m-1")}
    assert [c["text"] for c in rows["creative_labour"]["criteria"]] == [
        "accepted initiatives reached (1 of 1)"]
    await awards.apply(reviewed(submission, "city"))  # counted already: nothing to announce
    assert len(await awards.emitted()) == announced + 2


async def test_authors_seen_after_the_acceptance_count_it(awards):
    submission = submitted("m-1")
    await awards.apply(score_changed("m-1", 14, delta=14), reviewed(submission))
    assert (await standing(awards, "m-1"))[1] == 0  # whose it is, not known yet
    await awards.apply(submission)
    assert (await standing(awards, "m-1"))[1] == 1
    assert ("m-1", "creative_labour", "grassroots", True, "criteria_met") in decisions(
        await awards.emitted())


async def test_a_lower_total_arriving_after_a_higher_one_keeps_the_higher(awards):
    await awards.apply(awards.record(score_changed("m-1", 24, unit_id="u-may-10"), partition=5))
    announced = len(await awards.emitted())
    await awards.apply(awards.record(score_changed("m-1", 8), partition=3))
    assert (await standing(awards, "m-1"))[0] == Decimal(24)
    assert len(await awards.emitted()) == announced  # still eligible: nothing to announce


async def test_a_lower_total_after_a_higher_one_in_the_same_batch_keeps_the_higher(awards):
    await awards.apply(awards.record(score_changed("m-1", 24), partition=5),
                       awards.record(score_changed("m-1", 8), partition=3))
    assert (await standing(awards, "m-1"))[0] == Decimal(24)
    assert ("m-1", "good_worker", "grassroots", True, "criteria_met") in decisions(
        await awards.emitted())


async def test_a_members_first_score_announces_where_it_stands_for_each_computed_title(awards):
    await awards.apply(score_changed("m-1", 8))
    assert decisions(await awards.emitted()) == [
        ("m-1", "advanced_labourer", "grassroots", True, "criteria_met"),
        ("m-1", "good_worker", "grassroots", False, "min_points_not_reached"),
        ("m-1", "creative_labour", "grassroots", False, "accepted_initiatives_missing"),
    ]


async def test_a_member_reaching_twenty_points_becomes_eligible_as_a_good_worker(awards):
    await awards.apply(score_changed("m-1", 18))
    announced = len(await awards.emitted())
    await awards.apply(score_changed("m-1", 20))
    assert decisions((await awards.emitted())[announced:]) == [
        ("m-1", "good_worker", "grassroots", True, "criteria_met")]
    rows = await awards.pool.fetch(
        "SELECT title, eligible, reason FROM eligibility WHERE subject_id = 'm-1' ORDER BY title")
    assert [tuple(r.values()) for r in rows] == [
        ("advanced_labourer", True, "criteria_met"),
        ("creative_labour", False, "accepted_initiatives_missing"),
        ("good_worker", True, "criteria_met")]


async def test_an_accepted_initiative_makes_a_member_eligible_for_creative_labour(awards):
    submission = submitted("m-1")
    await awards.apply(submission, reviewed(submission))
    await awards.apply(score_changed("m-1", 10, delta=10, reason="initiative_accepted"))
    assert ("m-1", "creative_labour", "grassroots", True, "criteria_met") in decisions(
        await awards.emitted())


async def test_a_second_identical_score_change_announces_nothing(awards):
    await awards.apply(score_changed("m-1", 8))
    announced = await awards.emitted()
    await awards.apply(score_changed("m-1", 8))  # another event, the same standing
    assert await awards.emitted() == announced


async def test_a_units_score_evaluates_only_the_emulation_flag_of_the_default_unit_titles(awards):
    await awards.apply(score_changed("u-det-8-3", 500, kind="unit"))
    assert (await standing(awards, "u-det-8-3"))[0] == Decimal(500)
    assert decisions(await awards.emitted()) == [
        ("u-det-8-3", "emulation_flag", "district", True, "criteria_met")]


async def test_several_changes_of_one_subject_in_a_batch_are_evaluated_once(awards):
    batch = [score_changed("m-1", total, correlation_id=f"flow-{total}") for total in (8, 16, 24)]
    await awards.apply(*batch)
    emitted = await awards.emitted()
    assert decisions(emitted) == [
        ("m-1", "advanced_labourer", "grassroots", True, "criteria_met"),
        ("m-1", "good_worker", "grassroots", True, "criteria_met"),
        ("m-1", "creative_labour", "grassroots", False, "accepted_initiatives_missing"),
    ]
    assert {(e.causationid, e.correlationid) for e in emitted} == {(batch[2].id, "flow-24")}


async def test_an_eligibility_change_is_caused_by_the_latest_score_event_of_its_subject(awards):
    first = score_changed("m-1", 8, correlation_id="flow-1")
    other = score_changed("m-2", 30, unit_id="u-may-10", district="d-hoangmai",
                          correlation_id="flow-2")
    latest = score_changed("m-1", 12, correlation_id="flow-3")
    await awards.apply(first, other, latest)
    causes = {(e.data.subject_id, e.causationid, e.correlationid, e.district, e.data.unit_id)
              for e in await awards.emitted()}
    assert causes == {("m-1", latest.id, "flow-3", "d-dongda", "u-det-8-3"),
                      ("m-2", other.id, "flow-2", "d-hoangmai", "u-may-10")}


async def test_an_eligibility_change_names_its_subject_campaign_and_phase(awards):
    await awards.apply(score_changed("m-1", 24))
    change = (await awards.emitted())[0]
    assert (change.type, change.source, change.subject) == (
        "thidua.award.eligibility_changed.v1", "/thidua/awards", "m-1")
    assert (change.data.campaign_id, change.data.phase_id, change.data.subject_kind) == (
        CAMPAIGN, PHASE, "member")
    assert change.partition_key() == "u-det-8-3"


# Versioned score changes: a member's changes travel on the partitions of the units that
# credited them, so arrive out of order; the highest `subject_version` holds the latest total.

def good_worker(events: list[CloudEvent]) -> list[bool]:
    """The good_worker verdicts announced, in order."""
    return [e.data.eligible for e in events if e.data.title == "good_worker"]


async def test_a_stale_version_arriving_late_on_another_partition_changes_nothing(awards):
    v1 = score_changed("m-1", 8, version=1)
    v2 = score_changed("m-1", 16, delta=8, unit_id="u-may-10", version=2)
    v3 = score_changed("m-1", 24, delta=8, version=3)
    await awards.apply(awards.record(v1, partition=3))
    await awards.apply(awards.record(v3, partition=3))
    announced = await awards.emitted()
    await awards.apply(awards.record(v2, partition=5))  # late: older than v3
    assert await standing(awards, "m-1") == (Decimal(24), 0, "u-det-8-3")
    assert await awards.emitted() == announced
    assert good_worker(announced) == [False, True]


async def test_eligibility_never_flips_back_whatever_order_the_partitions_deliver(awards):
    # m-1 credited alternately by two units: odd versions on partition 3, even on 5.
    totals = {1: 8, 2: 14, 3: 20, 4: 22, 5: 30}
    changes = {v: awards.record(score_changed("m-1", t, delta=6, version=v,
                                              unit_id="u-det-8-3" if v % 2 else "u-may-10"),
                                partition=3 if v % 2 else 5)
               for v, t in totals.items()}
    # Partition 3 runs ahead; partition 5's changes come late, one batch mixing both.
    for batch in ([changes[1], changes[3]], [changes[2]], [changes[5], changes[4]]):
        await awards.apply(*batch)
    verdicts = good_worker(await awards.emitted())
    assert verdicts == [True]  # v1 and v3 in one batch: eligible at once, never contradicted
    assert await standing(awards, "m-1") == (Decimal(30), 0, "u-det-8-3")
    version = await awards.pool.fetchval(
        "SELECT subject_version FROM subject_standings WHERE subject_id = 'm-1'")
    assert version == 5


async def test_each_order_of_three_versions_ends_eligible_without_a_contradiction(awards):
    for order in permutations((1, 2, 3)):
        await awards.reset()
        totals = {1: 12, 2: 21, 3: 25}
        for v in order:
            await awards.apply(awards.record(
                score_changed("m-1", totals[v], version=v), partition=v))
        verdicts = good_worker(await awards.emitted())
        # Once eligible, never told otherwise: at most one False, before the True.
        assert verdicts in ([True], [False, True]), (order, verdicts)
        assert (await standing(awards, "m-1"))[0] == Decimal(25), order


async def test_a_redelivered_old_version_is_ignored(awards):
    v1 = score_changed("m-1", 24, version=1)
    await awards.apply(v1)
    await awards.apply(score_changed("m-1", 30, version=2))
    await awards.pool.execute("DELETE FROM inbox")  # retention forgot it
    await awards.apply(v1)
    assert (await standing(awards, "m-1"))[0] == Decimal(30)


async def test_withdrawn_points_lower_the_total_and_end_eligibility(awards):
    await awards.apply(score_changed("m-1", 24, version=1))
    await awards.apply(score_changed("m-1", 16, delta=-8, version=2))
    assert (await standing(awards, "m-1"))[0] == Decimal(16)
    assert good_worker(await awards.emitted()) == [True, False]
    # The withdrawn total's change arriving again, late, does not bring the points back.
    await awards.apply(awards.record(score_changed("m-1", 24, version=1), partition=7))
    assert (await standing(awards, "m-1"))[0] == Decimal(16)
    assert good_worker(await awards.emitted()) == [True, False]


async def test_a_withdrawal_and_a_stale_change_in_one_batch_keep_the_latest_version(awards):
    await awards.apply(awards.record(score_changed("m-1", 16, delta=-8, version=2), partition=1),
                       awards.record(score_changed("m-1", 24, version=1), partition=2))
    assert (await standing(awards, "m-1"))[0] == Decimal(16)
    assert good_worker(await awards.emitted()) == [False]


async def test_an_accepted_initiative_counts_whatever_version_its_score_change_had(awards):
    submission = submitted("m-1")
    await awards.apply(submission, reviewed(submission))
    await awards.apply(score_changed("m-1", 30, version=2))
    await awards.apply(score_changed("m-1", 10, delta=10, reason="initiative_accepted",
                                     version=1))
    assert await standing(awards, "m-1") == (Decimal(30), 1, "u-det-8-3")
    assert ("m-1", "creative_labour", "grassroots", True, "criteria_met") in decisions(
        await awards.emitted())


async def test_an_unversioned_change_after_a_versioned_one_is_older(awards):
    await awards.apply(score_changed("m-1", 16, version=3))
    await awards.apply(score_changed("m-1", 40))
    assert (await standing(awards, "m-1"))[0] == Decimal(16)
    await awards.apply(score_changed("m-1", 18, version=4))
    assert (await standing(awards, "m-1"))[0] == Decimal(18)


async def test_the_eligibility_change_is_caused_by_the_change_with_the_latest_version(awards):
    latest = score_changed("m-1", 24, version=2, correlation_id="flow-2")
    stale = score_changed("m-1", 8, version=1, correlation_id="flow-1")
    await awards.apply(latest, stale)
    assert {e.causationid for e in await awards.emitted()} == {latest.id}


async def test_the_criteria_follow_the_latest_standing_while_the_verdict_stays(awards):
    await awards.apply(score_changed("m-1", 8, version=1))
    await awards.apply(score_changed("m-1", 14, delta=6, version=2))
    rows = {r["title"]: r for r in await eligibility_of(awards.pool, "member", "m-1")}
    assert [c["text"] for c in rows["good_worker"]["criteria"]] == ["6 points short (14 of 20)"]
    assert rows["good_worker"]["criteria"][0] | {"text": None} == {
        "criterion": "min_points", "required": "20", "actual": "14", "met": False,
        "short_by": "6", "text": None}
    assert (rows["good_worker"]["eligible"], rows["good_worker"]["reason"]) == (
        False, "min_points_not_reached")
    assert len(await awards.emitted()) == 3  # the first verdicts only
    await awards.apply(score_changed("m-1", 22, delta=8, version=3))
    rows = {r["title"]: r for r in await eligibility_of(awards.pool, "member", "m-1")}
    assert (rows["good_worker"]["eligible"], rows["good_worker"]["reason"],
            [c["text"] for c in rows["good_worker"]["criteria"]]) == (
        True, "criteria_met", ["points reached (22 of 20)"])


# A score batch and an initiative batch of one phase at the same instant, on two consumers:
# one side runs through the real consumer, the other is held open mid-transaction on its own
# connection (the same repository calls its handler makes), so the interleaving is certain.

async def blocked(task: asyncio.Task, seconds: float = 0.5) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return not done


async def test_a_score_arriving_while_its_acceptance_commits_counts_it(awards):
    submission = submitted("m-1")
    await awards.apply(submission)
    async with awards.pool.acquire() as conn:
        review = conn.transaction()
        await review.start()
        await hold_phases(conn, {(CAMPAIGN, PHASE)}, exclusive=True)
        await facts.record_reviews(conn, [reviewed(submission).data])
        assert await AwardsRepository(conn).recount_accepted(
            [submission.data.initiative_id]) == {}  # nobody scored yet, as far as it sees
        score = asyncio.create_task(awards.apply(score_changed("m-1", 10, delta=10)))
        assert await blocked(score)  # the score batch waits for the review to commit
        await review.commit()
    await score
    assert (await standing(awards, "m-1"))[1] == 1
    assert ("m-1", "creative_labour", "grassroots", True, "criteria_met") in decisions(
        await awards.emitted())


async def test_an_acceptance_arriving_while_a_score_commits_recounts_it(awards):
    submission = submitted("m-1")
    await awards.apply(submission)
    async with awards.pool.acquire() as conn:
        scoring = conn.transaction()
        await scoring.start()
        await hold_phases(conn, {(CAMPAIGN, PHASE)}, exclusive=False)
        update = domain.standing_updates([("score-1", score_changed("m-1", 10, delta=10).data)])
        standings = await AwardsRepository(conn).update_standings(update)
        assert [s.accepted_initiatives for s in standings.values()] == [0]
        review = asyncio.create_task(awards.apply(reviewed(submission)))
        assert await blocked(review)  # the review batch waits for the score to commit
        await scoring.commit()
    await review
    assert (await standing(awards, "m-1"))[1] == 1


async def test_score_batches_of_one_phase_do_not_wait_for_each_other(awards):
    async with awards.pool.acquire() as conn, conn.transaction():
        await hold_phases(conn, {(CAMPAIGN, PHASE)}, exclusive=False)
        await asyncio.wait_for(awards.apply(score_changed("m-2", 12, delta=12)), 30)
    assert (await standing(awards, "m-2"))[0] == Decimal(12)

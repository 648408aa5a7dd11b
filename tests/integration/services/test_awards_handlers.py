"""Awards' handler through the real consumer and PostgreSQL: standings and eligibility changes.

The default rule set (contracts/events/rules.py) computes two member titles at grassroots level:
`good_worker` from 20 points, `creative_labour` from one accepted initiative. Unit titles have
no computable criteria (they are decided on proposal), so a unit's score evaluates nothing.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from contracts import CloudEvent, new_event
from contracts.events.scores import ScoreChanged
from services.awards.handlers import handlers
from services.awards.repository import AwardsRepository
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
) -> CloudEvent:
    data = ScoreChanged(
        unit_id=unit_id, campaign_id=CAMPAIGN, phase_id=PHASE, subject_kind=kind,
        subject_id=subject_id, points_delta=Decimal(delta), total_points=Decimal(total),
        reason=reason, source_event_id="ini-event-1",
    )
    return new_event(data, source="/thidua/scoring", district=district,
                     correlation_id=correlation_id, subject=subject_id)


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


async def test_accepted_initiatives_are_counted_once_each(awards):
    accepted = score_changed("m-1", 10, delta=10, reason="initiative_accepted")
    await awards.apply(accepted, score_changed("m-1", 12))
    await awards.apply(accepted)  # redelivered
    await awards.apply(score_changed("m-1", 22, delta=10, reason="initiative_accepted"))
    assert await standing(awards, "m-1") == (Decimal(22), 2, "u-det-8-3")


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
        ("creative_labour", False, "accepted_initiatives_missing"),
        ("good_worker", True, "criteria_met")]


async def test_an_accepted_initiative_makes_a_member_eligible_for_creative_labour(awards):
    await awards.apply(score_changed("m-1", 10, delta=10, reason="initiative_accepted"))
    assert ("m-1", "creative_labour", "grassroots", True, "criteria_met") in decisions(
        await awards.emitted())


async def test_a_second_identical_score_change_announces_nothing(awards):
    await awards.apply(score_changed("m-1", 8))
    announced = await awards.emitted()
    await awards.apply(score_changed("m-1", 8))  # another event, the same standing
    assert await awards.emitted() == announced


async def test_a_units_score_evaluates_no_title(awards):
    await awards.apply(score_changed("u-det-8-3", 500, kind="unit"))
    assert (await standing(awards, "u-det-8-3"))[0] == Decimal(500)
    assert await awards.emitted() == []


async def test_several_changes_of_one_subject_in_a_batch_are_evaluated_once(awards):
    batch = [score_changed("m-1", total, correlation_id=f"flow-{total}") for total in (8, 16, 24)]
    await awards.apply(*batch)
    emitted = await awards.emitted()
    assert decisions(emitted) == [
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

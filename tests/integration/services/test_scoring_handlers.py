"""Scoring's handlers through the real consumer and PostgreSQL: ledger, totals, score changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from contracts import CloudEvent, new_event
from contracts.events.campaigns import CampaignLaunched, Phase
from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted, WorkRegistered
from contracts.events.rules import ScoringRules
from services.scoring.handlers import handlers
from services.scoring.repository import ScoringRepository
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

SCORING = ServiceUnderTest(
    "scoring", handlers, ScoringRepository,
    Path(__file__).parents[3] / "services" / "scoring" / "migrations",
)
CAMPAIGN, PHASE = "cmp-2025-hn", "cmp-2025-hn-p1"
SUBMITTED = "thidua.initiative.submitted.v1"


@pytest.fixture(scope="module")
async def scoring(database_url):
    async with open_harness(database_url, SCORING) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(scoring):
    await scoring.reset()


def submitted(
    unit_id: str = "u-det-8-3", authors: tuple[str, ...] = ("m-1",), *,
    district: str | None = "d-dongda", correlation_id: str | None = None, n: int = 1,
    phase_id: str = PHASE, campaign_id: str = CAMPAIGN,
) -> CloudEvent:
    data = InitiativeSubmitted(
        initiative_id=f"ini-{unit_id}-{n}", campaign_id=campaign_id, phase_id=phase_id,
        unit_id=unit_id, title=f"Sáng kiến số {n}", field="kỹ thuật",
        authors=[InitiativeAuthor(member_id=m, full_name=f"Tác giả {m}", direct_worker=True)
                 for m in authors],
        claimed_benefit_vnd=10_000_000, submitted_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    return new_event(data, source="/thidua/registration", district=district,
                     correlation_id=correlation_id)


async def totals(harness) -> dict[tuple[str, str], tuple[Decimal, str, str | None]]:
    rows = await harness.pool.fetch(
        "SELECT subject_kind, subject_id, total_points, unit_id, district FROM scores")
    return {(r["subject_kind"], r["subject_id"]): (r["total_points"], r["unit_id"], r["district"])
            for r in rows}


async def ledger(harness) -> list[tuple[str, str, Decimal, str, str]]:
    rows = await harness.pool.fetch(
        """SELECT subject_kind, subject_id, points, reason, source_event_id FROM score_entries
           ORDER BY entry_id""")
    return [tuple(r.values()) for r in rows]


def changes(events: list[CloudEvent]) -> dict[str, tuple[Decimal, Decimal]]:
    """subject id → (points delta, total) of each score change."""
    return {e.data.subject_id: (e.data.points_delta, e.data.total_points) for e in events}


async def test_a_submitted_initiative_credits_its_unit_and_each_author_with_participation_points(
    scoring,
):
    event = submitted("u-det-8-3", ("m-1", "m-2"))
    await scoring.apply(event)
    assert await ledger(scoring) == [
        ("unit", "u-det-8-3", Decimal(2), "initiative_submitted", event.id),
        ("member", "m-1", Decimal(2), "initiative_submitted", event.id),
        ("member", "m-2", Decimal(2), "initiative_submitted", event.id),
    ]
    assert await totals(scoring) == {
        ("unit", "u-det-8-3"): (Decimal(2), "u-det-8-3", "d-dongda"),
        ("member", "m-1"): (Decimal(2), "u-det-8-3", "d-dongda"),
        ("member", "m-2"): (Decimal(2), "u-det-8-3", "d-dongda"),
    }


async def test_each_credited_subject_gets_a_score_change_caused_by_the_submission(scoring):
    event = submitted("u-det-8-3", ("m-1", "m-2"))
    await scoring.apply(event)
    emitted = await scoring.emitted()
    assert [(e.data.subject_kind, e.data.subject_id, e.subject) for e in emitted] == [
        ("unit", "u-det-8-3", "u-det-8-3"), ("member", "m-1", "m-1"), ("member", "m-2", "m-2")]
    for change in emitted:
        assert change.type == "thidua.score.changed.v1"
        assert (change.source, change.causationid, change.correlationid) == (
            "/thidua/scoring", event.id, event.correlationid)
        assert (change.data.unit_id, change.data.campaign_id, change.data.phase_id) == (
            "u-det-8-3", CAMPAIGN, PHASE)
        assert (change.data.points_delta, change.data.total_points) == (Decimal(2), Decimal(2))
        assert (change.data.reason, change.data.source_event_id) == (
            "initiative_submitted", event.id)
        assert change.partition_key() == "u-det-8-3"


async def test_the_same_submission_delivered_twice_in_one_batch_counts_once(scoring):
    event = submitted(authors=("m-1",))
    await scoring.apply(event, event)
    assert await totals(scoring) == {
        ("unit", "u-det-8-3"): (Decimal(2), "u-det-8-3", "d-dongda"),
        ("member", "m-1"): (Decimal(2), "u-det-8-3", "d-dongda"),
    }
    assert len(await ledger(scoring)) == 2
    assert changes(await scoring.emitted()) == {
        "u-det-8-3": (Decimal(2), Decimal(2)), "m-1": (Decimal(2), Decimal(2))}


async def test_the_same_submission_redelivered_in_a_later_batch_counts_once(scoring):
    event = submitted(authors=("m-1",))
    record = scoring.record(event)
    await scoring.apply(record)
    await scoring.apply(record)  # the batch rewound: same offset
    await scoring.apply(event)  # republished by a relay that crashed: a later offset
    assert {k: v[0] for k, v in (await totals(scoring)).items()} == {
        ("unit", "u-det-8-3"): Decimal(2), ("member", "m-1"): Decimal(2)}
    assert len(await ledger(scoring)) == 2
    assert len(await scoring.emitted()) == 2  # the redeliveries announced nothing
    assert await scoring.pool.fetchval("SELECT count(*) FROM inbox") == 1


async def test_many_submissions_of_one_unit_in_a_batch_announce_each_subject_once_with_summed_deltas(
    scoring,
):
    await scoring.apply(submitted(authors=("m-1",), n=0))
    batch = [
        submitted(authors=("m-1", "m-2"), correlation_id="flow-1", n=1),
        submitted(authors=("m-1",), correlation_id="flow-2", n=2),
        submitted(authors=("m-2", "m-1"), correlation_id="flow-3", n=3),
        submitted(authors=("m-1",), correlation_id="flow-4", n=4),
    ]
    before = len(await scoring.emitted())
    await scoring.apply(*batch)
    announced = (await scoring.emitted())[before:]
    assert changes(announced) == {
        "u-det-8-3": (Decimal(8), Decimal(10)),
        "m-1": (Decimal(8), Decimal(10)),
        "m-2": (Decimal(4), Decimal(4)),
    }
    assert len(announced) == 3
    causes = {e.data.subject_id: (e.causationid, e.correlationid, e.data.source_event_id)
              for e in announced}
    last, last_of_m2 = batch[3], batch[2]
    assert causes == {
        "u-det-8-3": (last.id, "flow-4", last.id),
        "m-1": (last.id, "flow-4", last.id),
        "m-2": (last_of_m2.id, "flow-3", last_of_m2.id),
    }


async def test_a_submission_replayed_after_its_inbox_entry_was_pruned_still_counts_once(scoring):
    event = submitted(authors=("m-1",))
    await scoring.apply(event)
    await scoring.pool.execute("DELETE FROM inbox")  # retention forgot it
    await scoring.apply(event)
    assert {k: v[0] for k, v in (await totals(scoring)).items()} == {
        ("unit", "u-det-8-3"): Decimal(2), ("member", "m-1"): Decimal(2)}
    assert len(await scoring.emitted()) == 2  # the ledger knew it: nothing announced again


async def test_a_batch_announces_its_subjects_in_the_order_they_were_first_credited(scoring):
    await scoring.apply(submitted("u-a", ("m-1",), n=1), submitted("u-b", ("m-2",), n=2),
                        submitted("u-a", ("m-3",), n=3))
    assert [e.data.subject_id for e in await scoring.emitted()] == [
        "u-a", "m-1", "u-b", "m-2", "m-3"]


async def test_two_submissions_from_different_units_credit_one_member_twice(scoring):
    first = submitted("u-det-8-3", ("m-7",), district="d-dongda")
    second = submitted("u-may-10", ("m-7",), district="d-hoangmai")
    await scoring.apply(scoring.record(first, partition=3), scoring.record(second, partition=5))
    member = (await totals(scoring))[("member", "m-7")]
    assert member[:2] == (Decimal(4), "u-may-10")  # the latest unit is the member's unit
    assert [line[1:] for line in await ledger(scoring) if line[1] == "m-7"] == [
        ("m-7", Decimal(2), "initiative_submitted", first.id),
        ("m-7", Decimal(2), "initiative_submitted", second.id),
    ]
    [change] = [e for e in await scoring.emitted() if e.data.subject_id == "m-7"]
    assert (change.data.points_delta, change.data.total_points) == (Decimal(4), Decimal(4))
    assert (change.causationid, change.data.unit_id) == (second.id, "u-may-10")


async def test_a_member_credited_from_two_units_in_two_batches_announces_each_new_total(scoring):
    await scoring.apply(submitted("u-det-8-3", ("m-7",)))
    await scoring.apply(submitted("u-may-10", ("m-7",)))
    member_changes = [e.data for e in await scoring.emitted() if e.data.subject_id == "m-7"]
    assert [(c.unit_id, c.points_delta, c.total_points) for c in member_changes] == [
        ("u-det-8-3", Decimal(2), Decimal(2)), ("u-may-10", Decimal(2), Decimal(4))]


async def test_score_changes_carry_the_district_of_their_cause(scoring):
    await scoring.apply(submitted("u-hk-1", ("m-1",), district="d-hoankiem", n=1),
                        submitted("u-city", ("m-9",), district=None, n=2))
    districts = {e.data.subject_id: e.district for e in await scoring.emitted()}
    assert districts == {"u-hk-1": "d-hoankiem", "m-1": "d-hoankiem", "u-city": None,
                         "m-9": None}
    assert (await totals(scoring))[("unit", "u-hk-1")][2] == "d-hoankiem"


async def test_an_author_listed_twice_on_one_initiative_is_credited_once(scoring):
    event = submitted(authors=("m-1", "m-1"))
    await scoring.apply(event)
    assert [line[:3] for line in await ledger(scoring)] == [
        ("unit", "u-det-8-3", Decimal(2)), ("member", "m-1", Decimal(2))]
    assert (await totals(scoring))[("member", "m-1")][0] == Decimal(2)
    assert changes(await scoring.emitted())["m-1"] == (Decimal(2), Decimal(2))


async def test_every_total_is_the_sum_of_its_ledger_lines(scoring):
    await scoring.apply(*(submitted(f"u-{i % 2}", ("m-1", f"m-a{i}"), n=i) for i in range(6)))
    await scoring.apply(*(submitted(f"u-{i % 3}", (f"m-{i}",), n=10 + i) for i in range(4)))
    mismatched = await scoring.pool.fetch(
        """SELECT s.subject_kind, s.subject_id FROM scores s
           JOIN (SELECT subject_kind, subject_id, sum(points) AS points FROM score_entries
                 GROUP BY 1, 2) e USING (subject_kind, subject_id)
           WHERE e.points <> s.total_points""")
    assert mismatched == []
    assert await scoring.pool.fetchval("SELECT count(*) FROM scores") == 13


def versions(events: list[CloudEvent], subject_id: str) -> list[tuple[int | None, Decimal]]:
    return [(e.data.subject_version, e.data.total_points) for e in events
            if e.data.subject_id == subject_id]


async def stored_version(harness, subject_id: str) -> int:
    return await harness.pool.fetchval(
        "SELECT version FROM scores WHERE subject_id = $1", subject_id)


async def test_each_applied_change_raises_the_subjects_version_by_one(scoring):
    await scoring.apply(submitted(authors=("m-1",), n=1))
    await scoring.apply(submitted("u-may-10", ("m-1",), n=2))
    await scoring.apply(submitted(authors=("m-1", "m-2"), n=3))
    emitted = await scoring.emitted()
    assert versions(emitted, "m-1") == [(1, Decimal(2)), (2, Decimal(4)), (3, Decimal(6))]
    assert versions(emitted, "m-2") == [(1, Decimal(2))]
    assert versions(emitted, "u-det-8-3") == [(1, Decimal(2)), (2, Decimal(4))]
    assert await stored_version(scoring, "m-1") == 3


async def test_a_redelivered_change_does_not_raise_the_version(scoring):
    event = submitted(authors=("m-1",))
    await scoring.apply(event)
    await scoring.pool.execute("DELETE FROM inbox")  # retention forgot it
    await scoring.apply(event, event)
    assert versions(await scoring.emitted(), "m-1") == [(1, Decimal(2))]
    assert await stored_version(scoring, "m-1") == 1


async def test_a_coalesced_change_carries_the_last_version_and_total_of_its_batch(scoring):
    await scoring.apply(submitted(authors=("m-1",), n=0))
    before = len(await scoring.emitted())
    await scoring.apply(*(submitted(authors=("m-1", "m-2") if n % 2 else ("m-1",), n=n)
                          for n in range(1, 5)))
    announced = (await scoring.emitted())[before:]
    assert versions(announced, "m-1") == [(5, Decimal(10))]
    assert versions(announced, "m-2") == [(2, Decimal(4))]
    assert versions(announced, "u-det-8-3") == [(5, Decimal(10))]
    assert (await stored_version(scoring, "m-1"), await stored_version(scoring, "m-2")) == (5, 2)


async def test_versions_count_per_campaign_phase(scoring):
    await scoring.apply(submitted(authors=("m-1",), n=1))
    await scoring.apply(submitted(authors=("m-1",), n=2, phase_id="cmp-2025-hn-p2"))
    assert [(e.data.phase_id, e.data.subject_version) for e in await scoring.emitted()
            if e.data.subject_id == "m-1"] == [(PHASE, 1), ("cmp-2025-hn-p2", 1)]


def launched(campaign_id: str, participation: int, *, phase_id: str = PHASE,
             at: datetime = datetime(2025, 1, 2, tzinfo=UTC)) -> CloudEvent:
    data = CampaignLaunched(
        campaign_id=campaign_id, organizer_unit_id="u-hn", year=2025, theme="Thi đua",
        phases=[Phase(phase_id=phase_id, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 12, 31))],
        scoring=ScoringRules(participation_points=Decimal(participation)), launched_at=at,
    )
    return new_event(data, source="/thidua/registration", district=None)


async def test_each_campaign_scores_under_its_own_rules_and_an_unknown_one_under_the_defaults(
    scoring,
):
    await scoring.apply(launched("cmp-a", 3), launched("cmp-b", 5, phase_id="cmp-b-p1"))
    a = submitted("u-a", ("m-a",), campaign_id="cmp-a")
    b = submitted("u-b", ("m-b",), campaign_id="cmp-b", phase_id="cmp-b-p1")
    unknown = submitted("u-c", ("m-c",), campaign_id="cmp-unknown")
    await scoring.apply(a, b, unknown)
    got = await totals(scoring)
    assert got[("unit", "u-a")][0] == got[("member", "m-a")][0] == Decimal(3)
    assert got[("unit", "u-b")][0] == got[("member", "m-b")][0] == Decimal(5)
    assert got[("unit", "u-c")][0] == ScoringRules().participation_points
    stored = await scoring.pool.fetch(
        "SELECT campaign_id, phases->0->>'phase_id' AS phase FROM campaign_rules ORDER BY 1")
    assert [tuple(r.values()) for r in stored] == [("cmp-a", PHASE), ("cmp-b", "cmp-b-p1")]


async def test_a_redelivered_or_older_launch_keeps_the_latest_rules(scoring):
    latest = launched("cmp-a", 4, at=datetime(2025, 2, 1, tzinfo=UTC))
    await scoring.apply(latest)
    await scoring.apply(launched("cmp-a", 9, at=datetime(2025, 1, 1, tzinfo=UTC)))
    await scoring.apply(latest)
    await scoring.apply(submitted("u-a", ("m-a",), campaign_id="cmp-a"))
    assert (await totals(scoring))[("unit", "u-a")][0] == Decimal(4)


async def test_a_plaqued_work_earns_its_unit_the_campaigns_plaqued_work_points_once(scoring):
    campaign = launched("cmp-a", 3)
    await scoring.apply(campaign)
    work = new_event(WorkRegistered(
        work_id="w-1", campaign_id="cmp-a", phase_id=PHASE, unit_id="u-a", name="Công trình",
        value_vnd=1_000_000_000, occasion="28/7", plaque_level="district",
        registered_at=datetime(2025, 6, 1, tzinfo=UTC)), source="/thidua/registration",
        district="d-dongda")
    await scoring.apply(work)
    await scoring.apply(work)
    assert await ledger(scoring) == [("unit", "u-a", ScoringRules().plaqued_work_points,
                                      "work_registered", work.id)]
    assert (await totals(scoring))[("unit", "u-a")][0] == ScoringRules().plaqued_work_points

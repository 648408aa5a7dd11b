"""Scoring's standings, breakdown, what-if and barrier over HTTP, on the four services started
in this process: events published on the real broker, read back through the routes, and odd
requests refused naming the field."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from aiokafka import AIOKafkaProducer

from contracts import CloudEvent, encode_event, new_event
from contracts.events.campaigns import CampaignLaunched, Phase, PhaseClosed
from contracts.events.initiatives import InitiativeAuthor, InitiativeReviewed, InitiativeSubmitted
from services.devstack.demo_directory import CITY, DONGDA, HOSPITAL, SCHOOL, WARD_NGHIADO
from tests.support.identity import bearer
from tests.support.kafka_log import wait_for

pytestmark = pytest.mark.integration
AT = datetime(2025, 5, 20, tzinfo=UTC)
TEACHER, NURSE = "m-lt-0007", "m-bve-0031"


def ev(data) -> CloudEvent:
    return new_event(data, source="/thidua/registration", district=None)


async def publish(bootstrap: str, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(e.data.topic.name, encode_event(e),
                                         key=e.partition_key().encode())
    finally:
        await producer.stop()


def initiative(campaign: str, phase: str, n: int, unit_id: str, author: str, level: str,
               grade: str) -> list[CloudEvent]:
    ini = f"ini-{campaign}-{n}"
    common = {"initiative_id": ini, "campaign_id": campaign, "phase_id": phase,
              "unit_id": unit_id}
    return [
        ev(InitiativeSubmitted(
            **common, title=f"Sáng kiến {n}", field="giáo dục", claimed_benefit_vnd=10_000_000,
            authors=[InitiativeAuthor(member_id=author, full_name="Tác giả",
                                      direct_worker=False)], submitted_at=AT)),
        ev(InitiativeReviewed(
            **common, outcome="accepted", level=level, grade=grade,
            recognised_benefit_vnd=5_000_000, council_unit_id=CITY,
            reviewed_at=datetime(2025, 6, 10, tzinfo=UTC))),
    ]


@pytest.fixture(scope="module")
async def phase(infrastructure, clients, directory_seeded):
    """The README's worked example in a campaign of its own, closed and finalized."""
    campaign = f"cmp-{uuid.uuid4().hex[:8]}"
    phase_id = f"{campaign}-p1"
    events = [ev(CampaignLaunched(
        campaign_id=campaign, organizer_unit_id=CITY, year=2025, theme="Thi đua 2025",
        phases=[Phase(phase_id=phase_id, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 6, 30))], launched_at=AT))]
    events += initiative(campaign, phase_id, 0, SCHOOL, TEACHER, "city", "A")
    for n in range(1, 7):
        events += initiative(campaign, phase_id, n, HOSPITAL, NURSE, "district", "B")
    close = ev(PhaseClosed(
        campaign_id=campaign, phase_id=phase_id, closed_at=datetime(2025, 7, 1, tzinfo=UTC),
        closed_by_unit_id=CITY, accepted_counts={"thidua.initiative.submitted.v1": 7,
                                                 "thidua.initiative.reviewed.v1": 7}))
    await publish(infrastructure.kafka_bootstrap_servers, [*events, close])
    base = f"/campaigns/{campaign}/phases/{phase_id}"

    async def finalized():
        answer = (await clients["scoring"].get(f"{base}/barrier")).json()
        return answer if answer["finalized_at"] else None

    await wait_for(finalized, timeout=60)
    return base


async def test_the_standings_rank_the_small_school_first_per_100_members(clients, phase):
    answer = await clients["scoring"].get(f"{phase}/standings")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["basis"] == "per_100_members"
    assert [(s["rank"], s["subject_id"], s["total_points"], s["ranking_points"])
            for s in body["standings"]] == [(1, SCHOOL, "42", "67.7419"),
                                            (2, HOSPITAL, "96", "6.6207")]
    page = (await clients["scoring"].get(f"{phase}/standings?limit=1")).json()
    assert [s["subject_id"] for s in page["standings"]] == [SCHOOL] and page["next_after"] == 1
    rest = (await clients["scoring"].get(f"{phase}/standings?after=1&limit=1")).json()
    assert [s["subject_id"] for s in rest["standings"]] == [HOSPITAL]


async def test_a_district_official_sees_the_city_ranks_of_their_own_units_only(clients, phase):
    answer = await clients["scoring"].get(
        f"{phase}/standings", headers=bearer("upper_official", unit=WARD_NGHIADO))
    assert [(s["rank"], s["subject_id"]) for s in answer.json()["standings"]] == [(2, HOSPITAL)]
    outside = await clients["scoring"].get(
        f"{phase}/standings?scope=district&scope_id={DONGDA}",
        headers=bearer("upper_official", unit=WARD_NGHIADO))
    assert outside.status_code == 404
    assert outside.json()["errors"][0]["field"] == "query.scope_id"


async def test_the_breakdown_lists_every_fact_with_its_rule_and_points(clients, phase):
    campaign = phase.split("/")[2]
    answer = await clients["scoring"].get(
        f"/scores/member/{TEACHER}/breakdown?campaign_id={campaign}")
    assert answer.status_code == 200, answer.text
    assert [(f["fact_id"], f["rule"], f["points"], f["level"], f["grade"])
            for f in answer.json()["facts"]] == [
        (f"initiative:ini-{campaign}-0", "initiative_accepted", "40", "city", "A"),
        (f"submission:ini-{campaign}-0", "initiative_submitted", "2", None, None)]


async def test_what_if_answers_the_diff_and_honours_an_idempotency_key(clients, phase):
    key = {"Idempotency-Key": f"what-if-{uuid.uuid4().hex}"}
    body = {"scoring": {"unit_score_basis": "total"}}
    first = await clients["scoring"].post(f"{phase}/what-if", json=body, headers=key)
    assert first.status_code == 200, first.text
    assert [(m["subject_id"], m["live_rank"], m["what_if_rank"], m["places_moved"])
            for m in first.json()["moves"]] == [(HOSPITAL, 2, 1, 1), (SCHOOL, 1, 2, -1)]
    again = await clients["scoring"].post(f"{phase}/what-if", json=body, headers=key)
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    other = await clients["scoring"].post(f"{phase}/what-if", json={"scoring": {}}, headers=key)
    assert other.status_code == 422
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"
    live = (await clients["scoring"].get(f"{phase}/standings")).json()
    assert live["basis"] == "per_100_members" and live["standings"][0]["subject_id"] == SCHOOL


@pytest.mark.parametrize(("body", "field"), [
    ({"scoring": {}, "extra": 1}, "extra"),
    ({"scoring": {"participation_points": "1e9"}}, "scoring.participation_points"),
    ({"scoring": {"unit_score_basis": "loudest"}}, "scoring.unit_score_basis"),
    ({"scoring": {}, "scope": "district"}, "scope_id"),
    ({"scoring": {}, "scope_id": "u-\x00x", "scope": "district"}, "scope_id"),
    ({"scoring": {}, "subject": "member", "scope": "cluster", "scope_id": "c-1"}, "scope"),
])
async def test_odd_what_if_requests_are_refused_naming_the_field(clients, phase, body, field):
    answer = await clients["scoring"].post(f"{phase}/what-if", json=body)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]


async def test_odd_standings_queries_are_refused_naming_the_field(clients, phase):
    for query, field in (("scope=sector&scope_id=mining", "query.scope_id"),
                         ("scope=city&scope_id=u-x", "query.scope_id"),
                         ("subject=member&scope=sector&scope_id=health", "query.scope"),
                         ("limit=100000", "query.limit"), ("after=-1", "query.after")):
        answer = await clients["scoring"].get(f"{phase}/standings?{query}")
        assert answer.status_code == 422, (query, answer.text)
        assert answer.json()["errors"][0]["field"] == field, query


async def test_the_barrier_shows_the_close_against_what_was_applied(clients, phase):
    body = (await clients["scoring"].get(f"{phase}/barrier")).json()
    assert body["accepted_counts"] == body["applied_counts"] == {
        "thidua.initiative.submitted.v1": 7, "thidua.initiative.reviewed.v1": 7}
    assert body["score_changed_count"] >= 4 and body["late_events"] == 0
    late = (await clients["scoring"].get(f"{phase}/late-events")).json()
    assert late == {"late_events": [], "next_after": None}

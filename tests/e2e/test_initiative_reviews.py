"""Councils review initiatives on the real database and broker: who may, in which order, with
which body; the decision is stored with its reviewer and announced once on its topic."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from contracts import EventDecodeError, decode_event
from contracts.topics import INITIATIVES
from services.devstack.demo import DEMO_INITIATIVE
from services.devstack.demo_directory import CITY, SCHOOL, WARD_LANG, WARD_NGHIADO
from tests.support.campaigns import launch
from tests.support.identity import bearer
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration

SCHOOL_COUNCIL = bearer("council_reviewer", unit=SCHOOL, subject="test:school-council")
WARD_COUNCIL = bearer("council_reviewer", unit=WARD_LANG, subject="test:ward-council")


async def submitted(clients, **overrides) -> dict:
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": f"m-{uuid.uuid4().hex[:10]}"}
    body = DEMO_INITIATIVE | {"initiative_id": f"ini-{uuid.uuid4().hex[:12]}",
                              "authors": [author]} | overrides
    answer = await clients["registration"].post("/initiatives", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json() | body


def accepted(level: str = "grassroots", **overrides) -> dict:
    return {"outcome": "accepted", "level": level, "grade": "B",
            "recognised_benefit_vnd": 100_000_000, "comment": "Áp dụng hiệu quả"} | overrides


async def review(clients, initiative_id: str, body: dict, headers: dict, **extra):
    return await clients["registration"].post(f"/initiatives/{initiative_id}/reviews",
                                              json=body, headers=headers | extra)


async def _new_campaign(clients, prefix: str) -> dict:
    launched = await launch(clients["registration"], prefix=prefix)
    return {"campaign_id": launched["campaign_id"], "phase_id": launched["open_phase"]}


def code(answer) -> str:
    return answer.json()["errors"][0]["code"]


async def test_a_council_review_is_stored_with_its_reviewer_and_announced_once(
        clients, infrastructure, directory_seeded):
    ini = await submitted(clients)
    answer = await review(clients, ini["initiative_id"], accepted(), SCHOOL_COUNCIL)
    assert answer.status_code == 201, answer.text
    recorded = answer.json()
    assert recorded["council_unit_id"] == SCHOOL
    shown = (await clients["registration"].get(f"/initiatives/{ini['initiative_id']}")).json()
    [stored] = shown["reviews"]
    assert (stored["level"], stored["outcome"], stored["grade"]) == ("grassroots", "accepted", "B")
    assert stored["reviewed_by"]["subject"] == "test:school-council"
    assert stored["reviewed_by"]["role"] == "council_reviewer"

    async def found():
        hits = []
        for record in await read_topic(infrastructure.kafka_bootstrap_servers, INITIATIVES.name):
            try:
                event = decode_event(record.value)
            except EventDecodeError:
                continue
            if event.type == "thidua.initiative.reviewed.v1" and \
                    event.data.initiative_id == ini["initiative_id"]:
                hits.append((record, event))
        return hits or None

    hits = await wait_for(found)
    assert len(hits) == 1
    record, event = hits[0]
    assert event.id == recorded["event_id"]
    assert record.key.decode() == SCHOOL
    assert event.data.council_unit_id == SCHOOL
    assert event.data.recognised_benefit_vnd == 100_000_000
    assert event.data.actor.subject == "test:school-council"


async def test_a_retry_with_the_same_key_gets_the_original_answer_and_one_review(
        clients, directory_seeded):
    ini = await submitted(clients)
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = await review(clients, ini["initiative_id"], accepted(), SCHOOL_COUNCIL, **key)
    again = await review(clients, ini["initiative_id"], accepted(), SCHOOL_COUNCIL, **key)
    assert first.status_code == again.status_code == 201, again.text
    assert first.content == again.content
    shown = (await clients["registration"].get(f"/initiatives/{ini['initiative_id']}")).json()
    assert len(shown["reviews"]) == 1


async def test_roles_and_scope(clients, directory_seeded):
    ini = await submitted(clients)
    member = await review(clients, ini["initiative_id"], accepted(),
                          bearer("member", member="m-lt-0012"))
    assert member.status_code == 403 and code(member) == "role_not_allowed"
    auditor = await review(clients, ini["initiative_id"], accepted(), bearer("auditor"))
    assert auditor.status_code == 403
    elsewhere = await review(clients, ini["initiative_id"], accepted("district"),
                             bearer("council_reviewer", unit=WARD_NGHIADO))
    assert elsewhere.status_code == 404 and code(elsewhere) == "initiative_not_found"
    unknown = await review(clients, "ini-none-such", accepted(), SCHOOL_COUNCIL)
    assert unknown.status_code == 404 and code(unknown) == "initiative_not_found"


async def test_the_body_is_checked(clients, directory_seeded):
    ini = await submitted(clients)
    iid = ini["initiative_id"]
    no_grade = await review(clients, iid, accepted(grade=None), SCHOOL_COUNCIL)
    assert no_grade.status_code == 422 and code(no_grade) == "grade_required"
    above = await review(clients, iid, accepted(recognised_benefit_vnd=150_000_000),
                         SCHOOL_COUNCIL)
    assert above.status_code == 422 and code(above) == "benefit_above_claimed"
    wrong_level = await review(clients, iid, accepted("district"), SCHOOL_COUNCIL)
    assert wrong_level.status_code == 422 and code(wrong_level) == "level_mismatch"
    other_council = await review(clients, iid, accepted(council_unit_id=WARD_LANG),
                                 SCHOOL_COUNCIL)
    assert other_council.status_code == 422 and code(other_council) == "not_own_council"
    shown = (await clients["registration"].get(f"/initiatives/{iid}")).json()
    assert shown["reviews"] == []
    higher = await review(clients, iid, accepted(recognised_benefit_vnd=150_000_000,
                                                 reason_for_higher_benefit="Đo lại sau 1 năm"),
                          SCHOOL_COUNCIL)
    assert higher.status_code == 201, higher.text


async def test_reviews_climb_the_levels_in_order(clients, directory_seeded):
    ini = await submitted(clients)
    iid = ini["initiative_id"]
    early = await review(clients, iid, accepted("district"), WARD_COUNCIL)
    assert early.status_code == 409 and code(early) == "lower_level_not_accepted"
    assert (await review(clients, iid, accepted(), SCHOOL_COUNCIL)).status_code == 201
    conflicting = await review(clients, iid, accepted(grade="A"), SCHOOL_COUNCIL)
    assert conflicting.status_code == 409 and code(conflicting) == "already_reviewed_at_level"
    district = await review(clients, iid, accepted("district", grade="A"), WARD_COUNCIL)
    assert district.status_code == 201, district.text
    official = await review(clients, iid, accepted("city", council_unit_id=CITY),
                            bearer("city_admin"))
    assert official.status_code == 201, official.text
    shown = (await clients["registration"].get(f"/initiatives/{iid}")).json()
    assert [r["level"] for r in shown["reviews"]] == ["grassroots", "district", "city"]


async def test_a_rejected_initiative_takes_no_higher_review(clients, directory_seeded):
    ini = await submitted(clients)
    iid = ini["initiative_id"]
    rejected = await review(clients, iid, {"outcome": "rejected", "level": "grassroots",
                                           "comment": "Chưa áp dụng"}, SCHOOL_COUNCIL)
    assert rejected.status_code == 201, rejected.text
    higher = await review(clients, iid, accepted("district"), WARD_COUNCIL)
    assert higher.status_code == 409 and code(higher) == "initiative_rejected"


async def test_a_near_identical_title_is_reported_as_a_possible_duplicate(clients,
                                                                         directory_seeded):
    launched = await launch(clients["registration"], prefix="cmp-dup")
    campaign, phase = launched["campaign_id"], launched["open_phase"]
    first = await submitted(clients, campaign_id=campaign, phase_id=phase,
                            title="Ứng dụng phần mềm quản lý hồ sơ học sinh")
    assert first["duplicate_candidates"] == []
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": f"m-{uuid.uuid4().hex[:10]}"}
    body = DEMO_INITIATIVE | {"initiative_id": f"ini-{uuid.uuid4().hex[:12]}",
                              "campaign_id": campaign, "phase_id": phase,
                              "authors": [author],
                              "title": "UNG DUNG phan mem quan ly ho so hoc sinh"}
    answer = await clients["registration"].post("/initiatives", json=body, headers=key)
    assert answer.status_code == 202, answer.text
    [candidate] = answer.json()["duplicate_candidates"]
    assert candidate["initiative_id"] == first["initiative_id"]
    assert candidate["title"] == "Ứng dụng phần mềm quản lý hồ sơ học sinh"
    assert candidate["similarity"] == 1.0
    replay = await clients["registration"].post("/initiatives", json=body, headers=key)
    assert replay.content == answer.content
    shown = (await clients["registration"].get(f"/initiatives/{body['initiative_id']}")).json()
    assert shown["duplicate_candidates"] == answer.json()["duplicate_candidates"]
    unrelated = await submitted(clients, campaign_id=campaign, phase_id=phase,
                                title="Cải tiến quy trình bảo dưỡng máy dệt")
    assert unrelated["duplicate_candidates"] == []


async def test_two_concurrent_reviews_at_one_level_record_one(clients, directory_seeded):
    ini = await submitted(clients)
    answers = await asyncio.gather(
        review(clients, ini["initiative_id"], accepted(grade="A"), SCHOOL_COUNCIL),
        review(clients, ini["initiative_id"], accepted(grade="C"), SCHOOL_COUNCIL))
    assert sorted(a.status_code for a in answers) == [201, 409]
    shown = (await clients["registration"].get(f"/initiatives/{ini['initiative_id']}")).json()
    assert len(shown["reviews"]) == 1


async def test_earlier_years_count_across_campaigns_this_years_other_campaigns_do_not(
        clients, system, directory_seeded):
    title = f"Sổ tay điện tử theo dõi thiết bị phòng thí nghiệm {uuid.uuid4().hex[:6]}"
    old = await submitted(clients, **await _new_campaign(clients, "cmp-old"), title=title)
    await system["registration"].state.runtime.pool.execute(
        "UPDATE initiatives SET submitted_at = '2024-05-01T00:00:00Z' WHERE initiative_id = $1",
        old["initiative_id"])
    other = await submitted(clients, **await _new_campaign(clients, "cmp-other"), title=title)
    assert [c["initiative_id"] for c in other["duplicate_candidates"]] == [old["initiative_id"]]
    third = await submitted(clients, **await _new_campaign(clients, "cmp-third"),
                            title=title.upper())
    assert [c["initiative_id"] for c in third["duplicate_candidates"]] == [old["initiative_id"]]

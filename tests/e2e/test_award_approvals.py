"""Award proposals decided over HTTP, on the real broker and database: rounds are started by
events published on Kafka (a campaign's rule set, score changes, the phase-wide final
standings), officials approve level by level, decisions are numbered, and
`thidua.award.granted.v1` goes out once per award, whatever the retries or races.

The demo tree today: the THCS Láng Thượng school union (grassroots) under phường Láng's union
(district level) under the city federation; its members the teacher and the chair.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest

from contracts.events.rules import AwardRules, TitleRule
from services.devstack.demo_directory import HOSPITAL, SCHOOL, TEACHER, WARD_LANG
from tests.support.award_rounds import CHAIR, SIGNED, approve, code, granted, proposal, round_of
from tests.support.identity import bearer

pytestmark = pytest.mark.integration

SCHOOL_OFFICIAL = bearer("grassroots_official", unit=SCHOOL, subject="test:school-official")
WARD_OFFICIAL = bearer("upper_official", unit=WARD_LANG, subject="test:ward-official")
HOSPITAL_OFFICIAL = bearer("grassroots_official", unit=HOSPITAL, subject="test:bve-official")

GOOD_WORKER = TitleRule(
    title="good_worker", subject_kind="member", levels=["grassroots", "district"],
    min_points=Decimal(20), cash_multiple={"grassroots": Decimal("0.3"),
                                           "district": Decimal(1)})


async def test_officials_approve_level_by_level_into_numbered_decisions(
        system, clients, infrastructure, directory_seeded):
    rules = AwardRules(titles=[GOOD_WORKER], disclosure_days=0)
    campaign_id = await round_of(system, infrastructure, rules)
    grassroots = await proposal(clients, campaign_id, TEACHER, "grassroots")
    district = await proposal(clients, campaign_id, TEACHER, "district")
    assert (grassroots["issuer_unit_id"], district["issuer_unit_id"]) == (SCHOOL, WARD_LANG)
    assert grassroots["standing"] == f"rank 1 of 2 at {SCHOOL}; no quota: proposed"

    early = await approve(clients, district["proposal_id"], WARD_OFFICIAL)
    assert (early.status_code, code(early)) == (409, "lower_level_not_approved")
    not_issuer = await approve(clients, district["proposal_id"], SCHOOL_OFFICIAL)
    assert (not_issuer.status_code, code(not_issuer)) == (403, "not_issuing_unit")
    elsewhere = await approve(clients, grassroots["proposal_id"], HOSPITAL_OFFICIAL)
    assert (elsewhere.status_code, code(elsewhere)) == (404, "proposal_not_found")

    first = await approve(clients, grassroots["proposal_id"], SCHOOL_OFFICIAL)
    assert first.status_code == 201, first.text
    assert first.json()["decision_number"].endswith("/2025/QĐ-KT")
    second = await approve(clients, district["proposal_id"], WARD_OFFICIAL)
    assert second.status_code == 201, second.text

    [event] = await granted(infrastructure, grassroots["proposal_id"])
    assert event.data.cash_amount_vnd == 702_000  # 0.3 times 2,340,000
    assert (event.data.issuer_unit_id, event.data.issuer_name) == (
        SCHOOL, "Công đoàn Trường THCS Láng Thượng")
    assert event.data.decision_number == first.json()["decision_number"]
    assert event.data.actor.subject == "test:school-official"
    assert event.data.unit_parent_id == WARD_LANG
    [upper] = await granted(infrastructure, district["proposal_id"])
    assert upper.data.cash_amount_vnd == 2_340_000
    shown = (await clients["awards"].get(f"/proposals/{district['proposal_id']}")).json()
    assert (shown["status"], shown["decision_id"]) == ("approved", upper.data.decision_id)


async def test_two_officials_approving_at_once_grant_one_award(
        system, clients, infrastructure, directory_seeded):
    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[GOOD_WORKER], disclosure_days=0))
    target = await proposal(clients, campaign_id, CHAIR, "grassroots")
    admin = bearer("city_admin", subject="test:city-admin")
    answers = await asyncio.gather(*(approve(clients, target["proposal_id"], headers)
                                     for headers in (SCHOOL_OFFICIAL, admin, SCHOOL_OFFICIAL)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409]
    assert {code(a) for a in answers if a.status_code == 409} == {"proposal_already_decided"}
    pool = system["awards"].state.runtime.pool
    assert await pool.fetchval("SELECT count(*) FROM awards_granted WHERE proposal_id = $1",
                               target["proposal_id"]) == 1
    await granted(infrastructure, target["proposal_id"])


async def test_a_retried_approval_replays_its_answer_and_grants_nothing_more(
        system, clients, infrastructure, directory_seeded):
    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[GOOD_WORKER], disclosure_days=0))
    target = await proposal(clients, campaign_id, TEACHER, "grassroots")
    key = {"Idempotency-Key": f"approve-{uuid.uuid4()}"}
    first = await approve(clients, target["proposal_id"], SCHOOL_OFFICIAL, **key)
    again = await approve(clients, target["proposal_id"], SCHOOL_OFFICIAL, **key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    await asyncio.sleep(1)
    assert len(await granted(infrastructure, target["proposal_id"])) == 1


async def test_a_bulk_approval_reports_each_item(system, clients, infrastructure,
                                                 directory_seeded):
    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[GOOD_WORKER], disclosure_days=0))
    teacher = await proposal(clients, campaign_id, TEACHER, "grassroots")
    chair = await proposal(clients, campaign_id, CHAIR, "grassroots")
    upper = await proposal(clients, campaign_id, CHAIR, "district")
    answer = await clients["awards"].post("/proposals/approvals", headers=SCHOOL_OFFICIAL, json={
        **SIGNED, "proposal_ids": [teacher["proposal_id"], "prop-does-not-exist",
                                   upper["proposal_id"], chair["proposal_id"]]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["approved"], body["refused"]) == (2, 2)
    assert [(i["outcome"], i["code"]) for i in body["items"]] == [
        ("approved", None), ("refused", "proposal_not_found"),
        ("refused", "not_issuing_unit"), ("approved", None)]
    # The school's approvals of one request share one decision.
    assert body["items"][0]["decision_number"] == body["items"][3]["decision_number"]


async def test_approval_waits_for_the_disclosure_period_and_answered_objections(
        system, clients, infrastructure, directory_seeded):
    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[GOOD_WORKER], disclosure_days=7))
    target = await proposal(clients, campaign_id, TEACHER, "grassroots")
    pid = target["proposal_id"]
    published = await approve(clients, pid, SCHOOL_OFFICIAL)
    assert (published.status_code, code(published)) == (409, "disclosure_period_open")
    colleague = bearer("member", member=CHAIR)
    objected = await clients["awards"].post(f"/proposals/{pid}/objections", headers=colleague,
                                            json={"text": "Chưa đủ ngày công trong năm"})
    assert objected.status_code == 201, objected.text
    objection_id = objected.json()["id"]
    pool = system["awards"].state.runtime.pool
    # The seven days pass.
    await pool.execute("UPDATE proposals SET disclosure_ends_at = now() - interval '1 second' "
                       "WHERE proposal_id = $1", pid)
    late = await clients["awards"].post(f"/proposals/{pid}/objections", headers=colleague,
                                        json={"text": "Thêm một ý kiến"})
    assert (late.status_code, code(late)) == (409, "disclosure_period_over")
    unanswered = await approve(clients, pid, SCHOOL_OFFICIAL)
    assert (unanswered.status_code, code(unanswered)) == (409, "objection_unanswered")
    answered = await clients["awards"].post(
        f"/proposals/{pid}/objections/{objection_id}/answer", headers=SCHOOL_OFFICIAL,
        json={"answer": "Đã đối chiếu bảng chấm công: đủ ngày công", "upheld": False})
    assert answered.status_code == 200, answered.text
    assert (await approve(clients, pid, SCHOOL_OFFICIAL)).status_code == 201
    shown = (await clients["awards"].get(f"/proposals/{pid}", headers=colleague)).json()
    assert [(o["answer"], o["upheld"]) for o in shown["objections"]] == [
        ("Đã đối chiếu bảng chấm công: đủ ngày công", False)]


async def test_an_upheld_objection_leaves_only_rejection(system, clients, infrastructure,
                                                         directory_seeded):
    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[GOOD_WORKER], disclosure_days=7))
    pid = (await proposal(clients, campaign_id, CHAIR, "grassroots"))["proposal_id"]
    objected = await clients["awards"].post(f"/proposals/{pid}/objections",
                                            headers=bearer("member", member=TEACHER),
                                            json={"text": "Bị kỷ luật khiển trách năm nay"})
    await clients["awards"].post(
        f"/proposals/{pid}/objections/{objected.json()['id']}/answer", headers=SCHOOL_OFFICIAL,
        json={"answer": "Đúng, có quyết định kỷ luật", "upheld": True})
    await system["awards"].state.runtime.pool.execute(
        "UPDATE proposals SET disclosure_ends_at = now() WHERE proposal_id = $1", pid)
    refused = await approve(clients, pid, SCHOOL_OFFICIAL)
    assert (refused.status_code, code(refused)) == (409, "objection_upheld")
    no_reason = await clients["awards"].post(f"/proposals/{pid}/rejection",
                                             headers=SCHOOL_OFFICIAL, json={"reason": "  "})
    assert no_reason.status_code == 422
    rejected = await clients["awards"].post(f"/proposals/{pid}/rejection",
                                            headers=SCHOOL_OFFICIAL,
                                            json={"reason": "Bị kỷ luật khiển trách"})
    assert rejected.status_code == 200, rejected.text
    again = await approve(clients, pid, SCHOOL_OFFICIAL)
    assert (again.status_code, code(again)) == (409, "proposal_already_decided")


async def test_one_initiative_earns_one_award(system, clients, infrastructure, directory_seeded):
    fighter = TitleRule(title="grassroots_emulation_fighter", subject_kind="member",
                        levels=["grassroots"], min_initiative_level="grassroots",
                        consumes_initiatives=True)
    creative = TitleRule(title="creative_labour", subject_kind="member", levels=["grassroots"],
                         min_recognised_benefit_vnd=80_000_000, consumes_initiatives=True)
    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[fighter, creative], disclosure_days=0),
                                 initiative_authors=[TEACHER])
    first = await proposal(clients, campaign_id, TEACHER, "grassroots",
                           "grassroots_emulation_fighter")
    other = await proposal(clients, campaign_id, TEACHER, "grassroots", "creative_labour")
    assert first["initiative_ids"] == other["initiative_ids"] and first["initiative_ids"]
    assert (await approve(clients, first["proposal_id"], SCHOOL_OFFICIAL)).status_code == 201
    twice = await approve(clients, other["proposal_id"], SCHOOL_OFFICIAL)
    assert (twice.status_code, code(twice)) == (409, "initiative_already_rewarded")
    [event] = await granted(infrastructure, first["proposal_id"])
    assert event.data.consumed_initiative_ids == first["initiative_ids"]


async def test_commands_refuse_unknown_fields_and_oversize_text(clients, directory_seeded):
    unknown = await clients["awards"].post("/proposals/prop-x/approval",
                                           json=SIGNED | {"cash": 10**9})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "cash"
    huge = await clients["awards"].post("/proposals/approvals", json=SIGNED | {
        "proposal_ids": [f"prop-{i}" for i in range(501)]})
    assert huge.status_code == 422
    nul = await clients["awards"].post("/proposals/prop-x/rejection", json={"reason": "a\u0000b"})
    assert nul.status_code == 422

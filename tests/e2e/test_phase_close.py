"""Closing a phase on the real database and broker: refused while reviews are pending, then a
barrier — its `accepted_counts` equal, per event type, the events for the phase found on the
topics, also when commands race the close, and nothing for the phase is accepted after it."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from contracts.topics import CAMPAIGNS, INITIATIVES, PARTICIPATION
from services.devstack.demo import DEMO_INITIATIVE
from services.devstack.demo_directory import SCHOOL, TEACHER, WARD_LANG, WARD_NGHIADO
from tests.support.campaigns import launch, new_units, today, wait_for_events
from tests.support.identity import bearer

pytestmark = pytest.mark.integration

WARD_OFFICIAL = bearer("upper_official", unit=WARD_LANG, subject="test:ward-lang")
SCHOOL_OFFICIAL = bearer("grassroots_official", unit=SCHOOL, subject="test:school")
SCHOOL_COUNCIL = bearer("council_reviewer", unit=SCHOOL, subject="test:school-council")


def error(answer) -> tuple[str, str | None]:
    first = answer.json()["errors"][0]
    return first["code"], first["field"]


def initiative(campaign: dict) -> dict:
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": f"m-{uuid.uuid4().hex[:10]}"}
    return DEMO_INITIATIVE | {"initiative_id": f"ini-{uuid.uuid4().hex[:12]}",
                              "campaign_id": campaign["campaign_id"],
                              "phase_id": campaign["open_phase"], "authors": [author]}


ACCEPTED = {"outcome": "accepted", "level": "grassroots", "grade": "B",
            "recognised_benefit_vnd": 10_000_000}


def close_path(campaign: dict) -> str:
    return f"/campaigns/{campaign['campaign_id']}/phases/{campaign['open_phase']}/close"


async def test_a_phase_closes_once_its_reviews_are_done_and_then_accepts_nothing(
        clients, directory_seeded):
    registration = clients["registration"]
    campaign = await launch(registration, WARD_LANG, prefix="cmp-close")
    first = initiative(campaign)
    assert (await registration.post("/initiatives", json=first,
                                    headers=SCHOOL_OFFICIAL)).status_code == 202
    refused = await registration.post(close_path(campaign), headers=WARD_OFFICIAL)
    assert refused.status_code == 409, refused.text
    assert error(refused) == ("reviews_pending", "phase_id")
    pending = refused.json()["errors"][1:]
    assert [e["code"] for e in pending] == ["review_pending"]
    assert first["initiative_id"] in pending[0]["message"]

    reviewed = await registration.post(f"/initiatives/{first['initiative_id']}/reviews",
                                       json=ACCEPTED, headers=SCHOOL_COUNCIL)
    assert reviewed.status_code == 201, reviewed.text
    outside = await registration.post(close_path(campaign),
                                      headers=bearer("upper_official", unit=WARD_NGHIADO))
    assert outside.status_code == 404 and error(outside)[0] == "campaign_not_found"
    key = {"Idempotency-Key": f"close-{uuid.uuid4()}"}
    closed = await registration.post(close_path(campaign), headers=WARD_OFFICIAL | key)
    assert closed.status_code == 200, closed.text
    assert closed.json()["accepted_counts"]["thidua.initiative.submitted.v1"] == 1
    replay = await registration.post(close_path(campaign), headers=WARD_OFFICIAL | key)
    assert replay.content == closed.content
    again = await registration.post(close_path(campaign), headers=WARD_OFFICIAL)
    assert again.status_code == 409 and error(again) == ("phase_closed", "phase_id")

    late = await registration.post("/initiatives", json=initiative(campaign),
                                   headers=SCHOOL_OFFICIAL)
    assert late.status_code == 409 and error(late) == ("phase_closed", "phase_id")
    higher = await registration.post(
        f"/initiatives/{first['initiative_id']}/reviews",
        json=ACCEPTED | {"level": "district"},
        headers=bearer("council_reviewer", unit=WARD_LANG))
    assert higher.status_code == 409 and error(higher) == ("phase_closed", "phase_id")
    member = await registration.post("/registrations", json={
        "campaign_id": campaign["campaign_id"], "phase_id": campaign["open_phase"],
        "subject_kind": "member", "subject_id": TEACHER, "titles": ["good_worker"]},
        headers=SCHOOL_OFFICIAL)
    assert member.status_code == 409 and error(member) == ("phase_closed", "phase_id")
    shown = (await registration.get(f"/campaigns/{campaign['campaign_id']}")).json()
    [phase] = [p for p in shown["phases"] if p["phase_id"] == campaign["open_phase"]]
    assert phase["status"] == "closed"
    assert phase["accepted_counts"] == closed.json()["accepted_counts"]
    assert phase["closed_by"]["subject"] == "test:ward-lang"
    metrics = (await registration.get("/metrics")).text
    assert 'thidua_registration_phase_refusals_total{code="phase_closed"}' in metrics
    assert 'thidua_registration_phase_closes_total{outcome="reviews_pending"}' in metrics
    assert 'thidua_registration_phase_closes_total{outcome="closed"}' in metrics


async def test_the_close_counts_equal_the_events_emitted_for_the_phase_even_under_a_race(
        clients, system, infrastructure, directory_seeded):
    registration = clients["registration"]
    bootstrap = infrastructure.kafka_bootstrap_servers
    pool = system["registration"].state.runtime.pool
    units = await new_units(registration, pool, WARD_LANG, 5, prefix="u-close")
    campaign = await launch(registration, WARD_LANG, prefix="cmp-barrier")
    cid, pid = campaign["campaign_id"], campaign["open_phase"]
    cluster = {"cluster_id": f"cl-{uuid.uuid4().hex[:10]}", "name": "Cụm thi đua phường Láng",
               "organizer_unit_id": WARD_LANG, "year": today().year, "member_unit_ids": units}
    formed = await registration.post("/clusters", json=cluster)
    assert formed.status_code == 201, formed.text

    for _ in range(3):
        body = initiative(campaign)
        assert (await registration.post("/initiatives", json=body,
                                        headers=SCHOOL_OFFICIAL)).status_code == 202
        assert (await registration.post(f"/initiatives/{body['initiative_id']}/reviews",
                                        json=ACCEPTED, headers=SCHOOL_COUNCIL)).status_code == 201
    for unit in units[:2]:
        assert (await registration.post("/registrations", json={
            "campaign_id": cid, "phase_id": pid, "subject_kind": "unit", "subject_id": unit,
            "titles": ["emulation_flag"]})).status_code == 201
    work = {"work_id": f"wk-{uuid.uuid4().hex[:10]}", "campaign_id": cid, "phase_id": pid,
            "unit_id": SCHOOL, "name": "Thư viện xanh", "value_vnd": 120_000_000,
            "occasion": "Kỷ niệm Ngày thành lập Công đoàn Việt Nam (28/7)"}
    assert (await registration.post("/works", json=work)).status_code == 201
    assert (await registration.post(f"/works/{work['work_id']}/approval", json={},
                                    headers=WARD_OFFICIAL)).status_code == 201
    unapproved = work | {"work_id": f"wk-{uuid.uuid4().hex[:10]}"}
    assert (await registration.post("/works", json=unapproved)).status_code == 201
    targets = [{"target_id": "sk", "description": "Sáng kiến", "target_value": 5,
                "unit_of_measure": "sáng kiến"}]
    pledge = {"campaign_id": cid, "phase_id": pid, "cluster_id": cluster["cluster_id"],
              "targets": targets}
    signed = await registration.post("/pledges", json=pledge | {"pledge_id": "pl-" + cid})
    assert signed.status_code == 201, signed.text
    assert (await registration.post(f"/pledges/pl-{cid}/results", json={
        "unit_id": units[0], "results": [{"target_id": "sk", "achieved_value": 7}]})
    ).status_code == 201

    # Pledges race the close: those committed first are counted, the others refused.
    racing = [registration.post("/pledges", json=pledge | {"pledge_id": f"pl-{cid}-{i}"})
              for i in range(12)]
    *answers, closed = await asyncio.gather(*racing, registration.post(
        close_path(campaign), headers=WARD_OFFICIAL))
    assert closed.status_code == 200, closed.text
    assert {a.status_code for a in answers} <= {201, 409}
    assert all(error(a) == ("phase_closed", "phase_id") for a in answers
               if a.status_code == 409)
    won = sum(a.status_code == 201 for a in answers)
    counts = closed.json()["accepted_counts"]
    assert counts == {
        "thidua.initiative.submitted.v1": 3, "thidua.initiative.reviewed.v1": 3,
        "thidua.emulation.registered.v1": 2, "thidua.pledge.signed.v1": 5 * (1 + won),
        "thidua.pledge.result_reported.v1": 1, "thidua.work.registered.v1": 1}

    expected = sum(counts.values())
    participation = await wait_for_events(bootstrap, PARTICIPATION.name,
                                          counts["thidua.emulation.registered.v1"]
                                          + counts["thidua.pledge.signed.v1"]
                                          + counts["thidua.pledge.result_reported.v1"],
                                          campaign_id=cid, phase_id=pid)
    # Waited for too: the relay's acknowledgements of two topics may come in either order.
    initiatives = await wait_for_events(bootstrap, INITIATIVES.name,
                                        counts["thidua.initiative.submitted.v1"]
                                        + counts["thidua.initiative.reviewed.v1"],
                                        campaign_id=cid, phase_id=pid)
    emitted = Counter(e.type for _, e in participation + initiatives)
    assert dict(emitted) == counts
    assert sum(emitted.values()) == expected
    assert len({e.id for _, e in participation + initiatives}) == expected

    [(record, event)] = await wait_for_events(bootstrap, CAMPAIGNS.name, 1, campaign_id=cid,
                                              phase_id=pid)
    assert record.key.decode() == cid and event.type == "thidua.phase.closed.v1"
    assert event.data.accepted_counts == counts
    assert event.data.closed_by_unit_id == WARD_LANG

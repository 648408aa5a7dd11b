"""Clusters, emulation registrations, pledges and their results, and works for plaques on the
real database and broker: each stored, announced once on its topic with the right key, every
refusal named, and a retried POST creating nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from contracts.topics import INITIATIVES, ORG, PARTICIPATION
from services.devstack.demo_directory import HOSPITAL, SCHOOL, TEACHER, WARD_LANG, WARD_NGHIADO
from tests.support.campaigns import launch, new_units, today, wait_for_events
from tests.support.identity import bearer
from tests.support.kafka_log import wait_for

pytestmark = pytest.mark.integration

WARD_OFFICIAL = bearer("upper_official", unit=WARD_LANG, subject="test:ward-lang")
NGHIADO_OFFICIAL = bearer("upper_official", unit=WARD_NGHIADO, subject="test:ward-nghiado")
SCHOOL_OFFICIAL = bearer("grassroots_official", unit=SCHOOL, subject="test:school")
TEACHER_TOKEN = bearer("member", member=TEACHER, subject="test:teacher")
CHAIR = "m-lt-0012"


def error(answer) -> tuple[str, str | None]:
    first = answer.json()["errors"][0]
    return first["code"], first["field"]


@pytest.fixture(scope="module")
async def ward(clients, system, directory_seeded) -> dict:
    """Four new grassroots unions under phường Láng beside the school, and a campaign of the
    ward reaching them."""
    pool = system["registration"].state.runtime.pool
    units = await new_units(clients["registration"], pool, WARD_LANG, 4, prefix="u-lang")
    campaign = await launch(clients["registration"], WARD_LANG, prefix="cmp-ward")
    return {"units": [SCHOOL, *units], "campaign": campaign}


def cluster_body(units: list[str], **overrides) -> dict:
    return {"cluster_id": f"cl-{uuid.uuid4().hex[:10]}", "name": "Cụm thi đua số 3 — khối giáo dục",
            "organizer_unit_id": WARD_LANG, "year": today().year,
            "member_unit_ids": units} | overrides


async def test_a_cluster_is_formed_once_and_announced_keyed_by_its_organiser(
        clients, infrastructure, ward):
    registration = clients["registration"]
    body = cluster_body(ward["units"], year=today().year + 1)
    key = {"Idempotency-Key": f"cl-{uuid.uuid4()}"}
    first = await registration.post("/clusters", json=body, headers=WARD_OFFICIAL | key)
    assert first.status_code == 201, first.text
    replay = await registration.post("/clusters", json=body, headers=WARD_OFFICIAL | key)
    assert replay.content == first.content and replay.headers["idempotent-replayed"] == "true"
    shown = (await registration.get(f"/clusters/{body['cluster_id']}",
                                    headers=SCHOOL_OFFICIAL)).json()
    assert shown["member_unit_ids"] == ward["units"]
    assert shown["effective_from"] == f"{today().year + 1}-01-01"
    listed = (await registration.get("/clusters", params={"unit_id": ward["units"][1]})).json()
    assert [c["cluster_id"] for c in listed["items"]] == [body["cluster_id"]]
    hidden = await registration.get(f"/clusters/{body['cluster_id']}", headers=NGHIADO_OFFICIAL)
    assert hidden.status_code == 404
    [(record, event)] = await wait_for_events(infrastructure.kafka_bootstrap_servers, ORG.name,
                                              1, cluster_id=body["cluster_id"])
    assert record.key.decode() == WARD_LANG
    assert event.type == "thidua.cluster.formed.v1" and event.id == first.json()["event_id"]

    again = await registration.post("/clusters", json=cluster_body(
        ward["units"][:5], year=today().year + 1), headers=WARD_OFFICIAL)
    assert again.status_code == 409
    assert error(again) == ("unit_in_another_cluster", "member_unit_ids")


async def test_a_cluster_is_refused_for_its_size_units_or_caller(clients, ward):
    post = clients["registration"].post
    small = await post("/clusters", json=cluster_body(ward["units"][:4]), headers=WARD_OFFICIAL)
    assert small.status_code == 422 and error(small) == ("cluster_size", "member_unit_ids")
    foreign = await post("/clusters", json=cluster_body([*ward["units"][:4], HOSPITAL]),
                         headers=WARD_OFFICIAL)
    assert foreign.status_code == 422
    assert error(foreign) == ("unit_not_under_organizer", "member_unit_ids")
    assert HOSPITAL in foreign.json()["errors"][0]["message"]
    repeated = await post("/clusters", json=cluster_body(ward["units"] + [SCHOOL]),
                          headers=WARD_OFFICIAL)
    assert repeated.status_code == 422
    outside = await post("/clusters", json=cluster_body(ward["units"]), headers=NGHIADO_OFFICIAL)
    assert outside.status_code == 404 and error(outside) == ("unit_not_found",
                                                            "organizer_unit_id")
    assert (await post("/clusters", json=cluster_body(ward["units"]),
                       headers=SCHOOL_OFFICIAL)).status_code == 403


def registration_body(campaign: dict, subject_kind: str, subject_id: str, **overrides) -> dict:
    return {"registration_id": f"reg-{uuid.uuid4().hex[:10]}",
            "campaign_id": campaign["campaign_id"], "phase_id": campaign["open_phase"],
            "subject_kind": subject_kind, "subject_id": subject_id,
            "titles": ["good_worker"] if subject_kind == "member" else ["emulation_flag"],
            "target_level": "district"} | overrides


async def test_a_unit_and_a_member_register_once_per_phase(clients, infrastructure, ward):
    registration = clients["registration"]
    campaign = await launch(registration, WARD_LANG, prefix="cmp-reg")
    unit_body = registration_body(campaign, "unit", SCHOOL)
    key = {"Idempotency-Key": f"reg-{uuid.uuid4()}"}
    first = await registration.post("/registrations", json=unit_body,
                                    headers=SCHOOL_OFFICIAL | key)
    assert first.status_code == 201, first.text
    replay = await registration.post("/registrations", json=unit_body,
                                     headers=SCHOOL_OFFICIAL | key)
    assert replay.content == first.content
    twice = await registration.post("/registrations", json=unit_body | {
        "registration_id": f"reg-{uuid.uuid4().hex[:10]}"}, headers=SCHOOL_OFFICIAL)
    assert twice.status_code == 409 and error(twice) == ("already_registered", "subject_id")

    herself = registration_body(campaign, "member", TEACHER,
                                titles=["good_worker", "good_at_work_and_home"])
    mine = await registration.post("/registrations", json=herself, headers=TEACHER_TOKEN)
    assert mine.status_code == 201, mine.text
    chair = await registration.post("/registrations", json=registration_body(
        campaign, "member", CHAIR), headers=TEACHER_TOKEN)
    assert chair.status_code == 404 and error(chair)[0] == "member_not_found"
    women = await registration.post("/registrations", json=registration_body(
        campaign, "member", CHAIR, titles=["good_at_work_and_home"]), headers=SCHOOL_OFFICIAL)
    assert women.status_code == 422 and error(women) == ("title_women_only", "titles")
    wrong = await registration.post("/registrations", json=registration_body(
        campaign, "unit", ward["units"][1], titles=["good_worker"]), headers=SCHOOL_OFFICIAL)
    assert wrong.status_code == 404  # another grassroots union is not the school's to act for
    wrong = await registration.post("/registrations", json=registration_body(
        campaign, "unit", ward["units"][1], titles=["good_worker"]), headers=WARD_OFFICIAL)
    assert wrong.status_code == 422 and error(wrong) == ("title_not_for_subject", "titles")

    mine_listed = (await registration.get("/registrations", params={
        "campaign_id": campaign["campaign_id"]}, headers=TEACHER_TOKEN)).json()
    assert [r["registration_id"] for r in mine_listed["items"]] == [herself["registration_id"]]
    school_listed = (await registration.get("/registrations", params={
        "campaign_id": campaign["campaign_id"], "subject_kind": "unit"},
        headers=SCHOOL_OFFICIAL)).json()
    assert [r["subject_id"] for r in school_listed["items"]] == [SCHOOL]
    elsewhere = (await registration.get("/registrations", params={
        "campaign_id": campaign["campaign_id"]}, headers=NGHIADO_OFFICIAL)).json()
    assert elsewhere["items"] == []
    pages, cursor = [], None
    while True:
        page = (await registration.get("/registrations", params={
            "campaign_id": campaign["campaign_id"], "limit": 1} | (
                {"cursor": cursor} if cursor else {}), headers=WARD_OFFICIAL)).json()
        pages.append([r["registration_id"] for r in page["items"]])
        if (cursor := page["next_cursor"]) is None:
            break
    assert sorted(i for p in pages for i in p) == sorted([unit_body["registration_id"],
                                                          herself["registration_id"]])
    assert all(len(p) <= 1 for p in pages)

    hits = await wait_for_events(infrastructure.kafka_bootstrap_servers, PARTICIPATION.name, 2,
                                 campaign_id=campaign["campaign_id"])
    assert sorted((e.data.subject_kind, r.key.decode()) for r, e in hits) == [
        ("member", SCHOOL), ("unit", SCHOOL)]
    assert {e.type for _, e in hits} == {"thidua.emulation.registered.v1"}


async def test_a_pledge_is_signed_by_each_unit_of_a_cluster_and_each_reports_its_results(
        clients, infrastructure, ward):
    registration = clients["registration"]
    cluster = cluster_body(ward["units"])
    formed = await registration.post("/clusters", json=cluster, headers=WARD_OFFICIAL)
    assert formed.status_code == 201, formed.text
    campaign = ward["campaign"]
    body = {"pledge_id": f"pl-{uuid.uuid4().hex[:10]}", "campaign_id": campaign["campaign_id"],
            "phase_id": campaign["open_phase"], "cluster_id": cluster["cluster_id"],
            "targets": [{"target_id": "sang-kien", "description": "Mỗi đơn vị 10 sáng kiến",
                         "target_value": 10, "unit_of_measure": "sáng kiến"},
                        {"target_id": "doan-vien", "description": "Phát triển đoàn viên mới",
                         "target_value": "12.5", "unit_of_measure": "%"}]}
    key = {"Idempotency-Key": f"pl-{uuid.uuid4()}"}
    signed = await registration.post("/pledges", json=body, headers=WARD_OFFICIAL | key)
    assert signed.status_code == 201, signed.text
    assert len(signed.json()["event_ids"]) == 5
    replay = await registration.post("/pledges", json=body, headers=WARD_OFFICIAL | key)
    assert replay.content == signed.content
    again = await registration.post("/pledges", json=body, headers=WARD_OFFICIAL)
    assert again.status_code == 409 and error(again) == ("pledge_exists", "pledge_id")
    stray = await registration.post("/pledges", json=body | {
        "pledge_id": "pl-stray", "unit_ids": [SCHOOL, HOSPITAL]}, headers=WARD_OFFICIAL)
    assert stray.status_code == 422 and error(stray) == ("unit_not_in_cluster", "unit_ids")
    pid = body["pledge_id"]

    results = {"unit_id": SCHOOL, "results": [{"target_id": "sang-kien", "achieved_value": 12},
                                              {"target_id": "doan-vien",
                                               "achieved_value": "10"}]}
    incomplete = await registration.post(f"/pledges/{pid}/results", json=results | {
        "results": results["results"][:1]}, headers=SCHOOL_OFFICIAL)
    assert incomplete.status_code == 422 and error(incomplete) == ("results_mismatch", "results")
    key = {"Idempotency-Key": f"res-{uuid.uuid4()}"}
    reported = await registration.post(f"/pledges/{pid}/results", json=results,
                                       headers=SCHOOL_OFFICIAL | key)
    assert reported.status_code == 201, reported.text
    replayed = await registration.post(f"/pledges/{pid}/results", json=results,
                                       headers=SCHOOL_OFFICIAL | key)
    assert replayed.content == reported.content
    twice = await registration.post(f"/pledges/{pid}/results", json=results,
                                    headers=SCHOOL_OFFICIAL)
    assert twice.status_code == 409 and error(twice) == ("results_already_reported", "unit_id")
    other = await registration.post(f"/pledges/{pid}/results", json=results | {
        "unit_id": ward["units"][1]}, headers=SCHOOL_OFFICIAL)
    assert other.status_code == 404
    hidden = await registration.post(f"/pledges/{pid}/results", json=results,
                                     headers=NGHIADO_OFFICIAL)
    assert hidden.status_code == 404 and error(hidden)[0] == "pledge_not_found"
    shown = (await registration.get(f"/pledges/{pid}", headers=SCHOOL_OFFICIAL)).json()
    assert shown["unit_ids"] == ward["units"]
    [school] = shown["results"]
    assert [(r["target_id"], r["met"]) for r in school["results"]] == [
        ("sang-kien", True), ("doan-vien", False)]

    hits = await wait_for_events(infrastructure.kafka_bootstrap_servers, PARTICIPATION.name, 6,
                                 pledge_id=pid)
    signed_events = [(r, e) for r, e in hits if e.type == "thidua.pledge.signed.v1"]
    assert sorted(r.key.decode() for r, _ in signed_events) == sorted(ward["units"])
    for record, event in signed_events:
        assert sorted(event.data.counterpart_unit_ids) == sorted(
            u for u in ward["units"] if u != record.key.decode())
    [(record, event)] = [(r, e) for r, e in hits if e.type == "thidua.pledge.result_reported.v1"]
    assert record.key.decode() == SCHOOL
    assert [r.met for r in event.data.results] == [True, False]


async def test_a_work_is_announced_once_an_upper_union_approves_its_plaque(
        clients, infrastructure, ward):
    registration = clients["registration"]
    campaign = ward["campaign"]
    body = {"work_id": f"wk-{uuid.uuid4().hex[:10]}", "campaign_id": campaign["campaign_id"],
            "phase_id": campaign["open_phase"], "unit_id": SCHOOL,
            "name": "Sân chơi đa năng cho học sinh", "value_vnd": 850_000_000,
            "occasion": "Kỷ niệm 95 năm Ngày thành lập Công đoàn Việt Nam (28/7)",
            "occasion_date": "2024-07-28"}
    registered = await registration.post("/works", json=body, headers=SCHOOL_OFFICIAL)
    assert registered.status_code == 201, registered.text
    assert registered.json()["status"] == "registered"
    huge = await registration.post("/works", json=body | {"work_id": "wk-huge",
                                                          "value_vnd": 10**16},
                                   headers=SCHOOL_OFFICIAL)
    assert huge.status_code == 422 and error(huge)[1] == "value_vnd"
    wid = body["work_id"]
    self_approval = await registration.post(f"/works/{wid}/approval", json={},
                                            headers=SCHOOL_OFFICIAL)
    assert self_approval.status_code == 403
    own = await registration.post(f"/works/{wid}/approval",
                                  json={"approving_unit_id": SCHOOL})
    assert own.status_code == 422 and error(own) == ("approver_not_above_unit",
                                                     "approving_unit_id")
    key = {"Idempotency-Key": f"wk-{uuid.uuid4()}"}
    approved = await registration.post(f"/works/{wid}/approval", json={"comment": "Đạt"},
                                       headers=WARD_OFFICIAL | key)
    assert approved.status_code == 201, approved.text
    replay = await registration.post(f"/works/{wid}/approval", json={"comment": "Đạt"},
                                     headers=WARD_OFFICIAL | key)
    assert replay.content == approved.content
    twice = await registration.post(f"/works/{wid}/approval", json={}, headers=WARD_OFFICIAL)
    assert twice.status_code == 409 and error(twice) == ("work_already_approved", "work_id")
    shown = (await registration.get(f"/works/{wid}", headers=SCHOOL_OFFICIAL)).json()
    assert (shown["status"], shown["plaque_level"]) == ("approved", "district")
    listed = (await registration.get("/works", params={"status": "approved",
                                                       "campaign_id": campaign["campaign_id"]},
                                     headers=SCHOOL_OFFICIAL)).json()
    assert wid in [w["work_id"] for w in listed["items"]]

    [(record, event)] = await wait_for_events(infrastructure.kafka_bootstrap_servers,
                                              INITIATIVES.name, 1, work_id=wid)
    assert record.key.decode() == SCHOOL and event.type == "thidua.work.registered.v1"
    assert (event.data.value_vnd, event.data.plaque_level) == (850_000_000, "district")
    assert event.id == approved.json()["event_id"]


@pytest.mark.parametrize("path", ["/clusters", "/registrations", "/pledges", "/works",
                                  "/campaigns"])
async def test_odd_bodies_are_refused_by_field_and_store_nothing(clients, ward, path):
    post = clients["registration"].post
    campaign = ward["campaign"]
    bodies = {
        "/clusters": cluster_body(ward["units"], year=2099),
        "/registrations": registration_body(campaign, "unit", SCHOOL),
        "/pledges": {"campaign_id": campaign["campaign_id"], "phase_id": campaign["open_phase"],
                     "cluster_id": "cl-none", "targets": [{
                         "target_id": "sk", "description": "Sáng kiến", "target_value": 1,
                         "unit_of_measure": "sáng kiến"}]},
        "/works": {"campaign_id": campaign["campaign_id"], "phase_id": campaign["open_phase"],
                   "unit_id": SCHOOL, "name": "Công trình", "value_vnd": 1,
                   "occasion": "28/7"},
        "/campaigns": {"organizer_unit_id": SCHOOL, "year": 2026, "theme": "Thi đua",
                       "phases": [{"phase_id": "p", "name": "Đợt", "starts_on": "2026-01-01",
                                   "ends_on": "2026-01-02"}]},
    }
    body = bodies[path]
    unknown = await post(path, json=body | {"is_admin": True})
    assert unknown.status_code == 422 and "is_admin" in [
        e["field"] for e in unknown.json()["errors"]]
    text_field = next(k for k in ("name", "theme") if k in body) if path in (
        "/clusters", "/works", "/campaigns") else "campaign_id"
    nul = await post(path, json=body | {text_field: "x\u0000y"})
    assert nul.status_code == 422, nul.text
    assert text_field in [e["field"] for e in nul.json()["errors"]]
    huge = await post(path, json=body | {text_field: "x" * 400_000})
    assert huge.status_code in (413, 422), huge.text
    wrong_type = await post(path, json=body | {text_field: 12})
    assert wrong_type.status_code == 422
    listed = await clients["registration"].get(path, params={"limit": 500})
    assert "x\\u0000y" not in listed.text and "is_admin" not in listed.text


async def test_a_retried_work_or_report_with_its_key_creates_nothing_more(clients, ward):
    registration = clients["registration"]
    campaign = ward["campaign"]
    body = {"campaign_id": campaign["campaign_id"], "phase_id": campaign["open_phase"],
            "unit_id": SCHOOL, "name": "Nhà ăn ca công nhân", "value_vnd": 300_000_000,
            "occasion": "Kỷ niệm Ngày thành lập Công đoàn Việt Nam (28/7)"}
    key = {"Idempotency-Key": f"wk-{uuid.uuid4()}"}
    first = await registration.post("/works", json=body, headers=SCHOOL_OFFICIAL | key)
    again = await registration.post("/works", json=body, headers=SCHOOL_OFFICIAL | key)
    assert first.status_code == again.status_code == 201 and first.content == again.content
    works = (await registration.get("/works", params={
        "campaign_id": campaign["campaign_id"], "unit_id": SCHOOL, "limit": 500})).json()
    assert [w["name"] for w in works["items"]].count("Nhà ăn ca công nhân") == 1
    reused = await registration.post("/works", json=body | {"value_vnd": 1},
                                     headers=SCHOOL_OFFICIAL | key)
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["code"] == "idempotency_key_reused"


async def test_two_clusters_claiming_one_unit_at_once_form_one(clients, system, ward):
    pool = system["registration"].state.runtime.pool
    extra = await new_units(clients["registration"], pool, WARD_LANG, 9, prefix="u-race")
    year = today().year + 3
    first = cluster_body(extra[:5], year=year)
    second = cluster_body(extra[4:], year=year)  # both hold extra[4]
    answers = await asyncio.gather(
        clients["registration"].post("/clusters", json=first, headers=WARD_OFFICIAL),
        clients["registration"].post("/clusters", json=second, headers=WARD_OFFICIAL))
    assert sorted(a.status_code for a in answers) == [201, 409]
    [refused] = [a for a in answers if a.status_code == 409]
    assert error(refused) == ("unit_in_another_cluster", "member_unit_ids")
    assert extra[4] in refused.json()["errors"][0]["message"]
    held = await pool.fetchval("SELECT count(*) FROM cluster_units WHERE unit_id = $1",
                               extra[4])
    assert held == 1


async def test_a_dissolved_unit_takes_part_in_nothing(clients, system, ward):
    registration = clients["registration"]
    pool = system["registration"].state.runtime.pool
    [unit] = await new_units(registration, pool, WARD_LANG, 1, prefix="u-gone")
    day = today().isoformat()
    gone = await registration.post(f"/units/{unit}/changes",
                                   json={"effective_from": day, "status": "dissolved"})
    assert gone.status_code == 201, gone.text

    async def projected() -> bool:
        return await pool.fetchval(
            "SELECT status = 'dissolved' FROM directory_units WHERE unit_id = $1 "
            "AND valid @> $2::date", unit, today())

    await wait_for(projected)
    answer = await registration.post("/registrations", json=registration_body(
        ward["campaign"], "unit", unit), headers=WARD_OFFICIAL)
    assert answer.status_code == 422 and error(answer) == ("unit_not_active", "subject_id")

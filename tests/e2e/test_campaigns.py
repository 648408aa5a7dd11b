"""Campaigns on the real database and broker: launched once with their phases and rule sets,
read by those they reach, and the gate of every command naming a phase (initiatives here)."""

from __future__ import annotations

import uuid

import pytest

from contracts.topics import CAMPAIGNS
from services.devstack.demo import DEMO_INITIATIVE
from services.devstack.demo_directory import CITY, HOSPITAL, SCHOOL, WARD_LANG, WARD_NGHIADO
from tests.support.campaigns import campaign_body, launch, wait_for_events
from tests.support.identity import bearer

pytestmark = pytest.mark.integration

WARD_OFFICIAL = bearer("upper_official", unit=WARD_LANG, subject="test:ward-lang")
NGHIADO_OFFICIAL = bearer("upper_official", unit=WARD_NGHIADO, subject="test:ward-nghiado")
SCHOOL_OFFICIAL = bearer("grassroots_official", unit=SCHOOL, subject="test:school")


def error(answer) -> tuple[str, str | None]:
    first = answer.json()["errors"][0]
    return first["code"], first["field"]


def initiative(campaign: dict, phase: str | None = None, **overrides) -> dict:
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": f"m-{uuid.uuid4().hex[:10]}"}
    return DEMO_INITIATIVE | {"initiative_id": f"ini-{uuid.uuid4().hex[:12]}",
                              "campaign_id": campaign["campaign_id"],
                              "phase_id": phase or campaign["open_phase"],
                              "authors": [author]} | overrides


async def test_a_launch_is_stored_and_announced_once_keyed_by_the_campaign(
        clients, infrastructure, directory_seeded):
    registration = clients["registration"]
    body = campaign_body(WARD_LANG, scoring={"participation_points": "2",
                                             "unit_score_basis": "per_100_members"})
    key = {"Idempotency-Key": f"launch-{uuid.uuid4()}"}
    first = await registration.post("/campaigns", json=body, headers=WARD_OFFICIAL | key)
    assert first.status_code == 201, first.text
    again = await registration.post("/campaigns", json=body, headers=WARD_OFFICIAL | key)
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    repeat = await registration.post("/campaigns", json=body, headers=WARD_OFFICIAL)
    assert repeat.status_code == 409 and error(repeat) == ("campaign_exists", "campaign_id")

    shown = (await registration.get(f"/campaigns/{body['campaign_id']}",
                                    headers=SCHOOL_OFFICIAL)).json()
    assert shown["organizer_unit_id"] == WARD_LANG
    assert [p["phase_id"] for p in shown["phases"]] == [p["phase_id"] for p in body["phases"]]
    assert {p["status"] for p in shown["phases"]} == {"open"}
    assert shown["scoring"]["unit_score_basis"] == "per_100_members"
    assert shown["launched_by"]["subject"] == "test:ward-lang"

    [(record, event)] = await wait_for_events(infrastructure.kafka_bootstrap_servers,
                                              CAMPAIGNS.name, 1,
                                              campaign_id=body["campaign_id"])
    assert record.key.decode() == body["campaign_id"]
    assert event.type == "thidua.campaign.launched.v1"
    assert event.id == first.json()["event_id"]
    assert [p.kind for p in event.data.phases][-2:] in (["peak", "regular"], ["regular", "peak"])
    assert str(event.data.scoring.participation_points) == "2"


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"phases": []}, "phases", "too_short"),
    ({"year": 1999}, "year", "greater_than_equal"),
    ({"is_admin": True}, "is_admin", "extra_forbidden"),
    ({"theme": "Thi đua\u0000"}, "theme", None),
    ({"theme": "x" * 501}, "theme", "string_too_long"),
    ({"scoring": {"participation_points": "many"}}, "scoring.participation_points",
     "rules_invalid"),
    ({"awards": {"titles": [{"title": "best_in_show"}]}}, "awards.titles.0.title",
     "rules_invalid"),
])
async def test_a_bad_launch_names_its_field_and_stores_nothing(clients, directory_seeded,
                                                               change, field, code):
    body = campaign_body() | change
    answer = await clients["registration"].post("/campaigns", json=body)
    assert answer.status_code == 422, answer.text
    fields = [e["field"] for e in answer.json()["errors"]]
    assert field in fields, answer.text
    if code is not None:
        assert code in [e["code"] for e in answer.json()["errors"]]
    gone = await clients["registration"].get(f"/campaigns/{body['campaign_id']}")
    assert gone.status_code == 404


async def test_overlapping_or_out_of_year_phases_are_refused(clients, directory_seeded):
    body = campaign_body()
    overlapping = body | {"phases": [body["phases"][0], body["phases"][0] | {"phase_id": "p-x"}]}
    answer = await clients["registration"].post("/campaigns", json=overlapping)
    assert answer.status_code == 422 and "starts before" in answer.text
    outside = body | {"year": body["year"] - 1}
    answer = await clients["registration"].post("/campaigns", json=outside)
    assert answer.status_code == 422 and "does not touch the year" in answer.text


async def test_an_official_launches_only_for_units_in_their_subtree(clients, directory_seeded):
    answer = await clients["registration"].post(
        "/campaigns", json=campaign_body(WARD_LANG), headers=NGHIADO_OFFICIAL)
    assert answer.status_code == 404 and error(answer) == ("unit_not_found",
                                                          "organizer_unit_id")
    member = bearer("member", member="m-lt-0012")
    answer = await clients["registration"].post("/campaigns", json=campaign_body(SCHOOL),
                                                headers=member)
    assert answer.status_code == 403


async def test_lists_show_the_campaigns_above_and_below_the_caller_and_page_by_cursor(
        clients, directory_seeded):
    registration = clients["registration"]
    city = await launch(registration, CITY, prefix="cmp-list")
    ward = await launch(registration, WARD_LANG, prefix="cmp-list")
    other = await launch(registration, WARD_NGHIADO, prefix="cmp-list")
    seen = set()
    cursor = None
    while True:
        params = {"limit": 1, "year": city["year"]} | ({"cursor": cursor} if cursor else {})
        page = (await registration.get("/campaigns", params=params,
                                       headers=SCHOOL_OFFICIAL)).json()
        assert len(page["items"]) <= 1
        seen |= {c["campaign_id"] for c in page["items"]}
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert {city["campaign_id"], ward["campaign_id"]} <= seen
    assert other["campaign_id"] not in seen
    hidden = await registration.get(f"/campaigns/{other['campaign_id']}",
                                    headers=SCHOOL_OFFICIAL)
    assert hidden.status_code == 404 and error(hidden)[0] == "campaign_not_found"
    by_organizer = (await registration.get("/campaigns", params={
        "organizer_unit_id": WARD_NGHIADO, "limit": 500})).json()
    assert other["campaign_id"] in {c["campaign_id"] for c in by_organizer["items"]}
    assert {c["organizer_unit_id"] for c in by_organizer["items"]} == {WARD_NGHIADO}
    bad = await registration.get("/campaigns", params={"cursor": "%%%"})
    assert bad.status_code == 422 and error(bad) == ("cursor_invalid", "query.cursor")


async def test_an_initiative_enters_only_an_open_phase_of_a_campaign_reaching_its_unit(
        clients, directory_seeded):
    registration = clients["registration"]
    campaign = await launch(registration, prefix="cmp-gate")
    phases = [p["phase_id"] for p in campaign["phases"]]
    post = registration.post
    accepted = await post("/initiatives", json=initiative(campaign), headers=SCHOOL_OFFICIAL)
    assert accepted.status_code == 202, accepted.text
    if f"{campaign['campaign_id']}-next" in phases:
        early = await post("/initiatives", json=initiative(
            campaign, f"{campaign['campaign_id']}-next"), headers=SCHOOL_OFFICIAL)
        assert early.status_code == 409 and error(early) == ("phase_not_started", "phase_id")
    if f"{campaign['campaign_id']}-past" in phases:
        late = await post("/initiatives", json=initiative(
            campaign, f"{campaign['campaign_id']}-past"), headers=SCHOOL_OFFICIAL)
        assert late.status_code == 409 and error(late) == ("phase_ended", "phase_id")
        assert f"{campaign['campaign_id']}-past" in late.json()["errors"][0]["message"]
    unknown_phase = await post("/initiatives", json=initiative(campaign, "p-nope"),
                               headers=SCHOOL_OFFICIAL)
    assert unknown_phase.status_code == 422
    assert error(unknown_phase) == ("phase_not_found", "phase_id")
    unknown = await post("/initiatives", json=initiative(campaign) | {"campaign_id": "cmp-nope"},
                         headers=SCHOOL_OFFICIAL)
    assert unknown.status_code == 404 and error(unknown) == ("campaign_not_found",
                                                            "campaign_id")
    elsewhere = await launch(registration, WARD_NGHIADO, prefix="cmp-gate")
    outside = await post("/initiatives", json=initiative(elsewhere), headers=SCHOOL_OFFICIAL)
    assert outside.status_code == 422 and error(outside) == ("unit_outside_campaign", "unit_id")
    hospital = await post("/initiatives", json=initiative(elsewhere, unit_id=HOSPITAL))
    assert hospital.status_code == 202, hospital.text

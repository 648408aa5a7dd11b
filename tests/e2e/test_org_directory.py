"""Registration owns the org directory: units and members recorded with dated states, each
command's event on `thidua.org.v1` once with the unit's key, history never rewritten, and every
service's directory filled from those events."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from contracts import EventDecodeError, decode_event
from contracts.topics import ORG
from services.devstack.demo_directory import CITY, HOSPITAL, SCHOOL, WARD_NGHIADO
from tests.support.identity import ADMIN, bearer, mint
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration

ADMIN_SUBJECT = "test:city-admin"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unit_body(unit_id: str, parent_id: str | None, on: str = "2020-01-01", **extra) -> dict:
    return {"unit_id": unit_id, "name": f"Công đoàn {unit_id}", "kind": "grassroots_union",
            "parent_id": parent_id, "effective_from": on, "sector": "education",
            "member_count": 40, "direct_worker_count": 5} | extra


def member_body(member_id: str, unit_id: str, on: str = "2020-01-01", **extra) -> dict:
    return {"member_id": member_id, "unit_id": unit_id, "full_name": "Nguyễn Văn An",
            "gender": "male", "effective_from": on} | extra


async def post(clients, path: str, body: dict, headers: dict | None = None, status: int = 201):
    answer = await clients["registration"].post(path, json=body, headers=headers or ADMIN)
    assert answer.status_code == status, answer.text
    return answer


def error_of(answer) -> tuple[str, str]:
    error = answer.json()["errors"][0]
    return error["code"], error["field"]


async def org_records(infrastructure, subject: str, count: int) -> list:
    """The records on `thidua.org.v1` whose event is about `subject`, once `count` are there."""
    async def found():
        records = []
        for record in await read_topic(infrastructure.kafka_bootstrap_servers, ORG.name):
            try:
                event = decode_event(record.value)
            except EventDecodeError:
                continue
            if event.subject == subject:
                records.append((record, event))
        return records if len(records) >= count else None

    return await wait_for(found)


async def test_a_registered_unit_is_stored_and_announced_once_with_its_key(clients,
                                                                          infrastructure):
    unit_id = uid("u-reg")
    answer = await post(clients, "/units", unit_body(unit_id, SCHOOL))
    recorded = answer.json()
    assert recorded["event_type"] == "thidua.unit.registered.v1"
    view = (await clients["registration"].get(f"/units/{unit_id}")).json()
    assert view["parent_id"] == SCHOOL
    assert view["ancestors"][:2] == [unit_id, SCHOOL]
    assert view["district_id"] is not None  # the school's ward, taken from the parent
    records = await org_records(infrastructure, unit_id, 1)
    assert len(records) == 1
    record, event = records[0]
    assert record.key.decode() == unit_id
    assert event.id == recorded["event_id"]
    assert event.district == view["district_id"]
    assert event.data.actor.subject == ADMIN_SUBJECT
    assert event.data.actor.role == "city_admin"


async def test_the_2025_reform_keeps_history_and_fills_every_directory(clients, infrastructure,
                                                                       system):
    federation, school, ward = uid("u-dist"), uid("u-school"), uid("u-ward")
    teacher = uid("m-teacher")
    await post(clients, "/units", unit_body(federation, CITY, kind="district_federation",
                                            district_id=federation))
    await post(clients, "/units", unit_body(school, federation))
    await post(clients, "/members", member_body(teacher, school))
    still_parent = await post(clients, f"/units/{federation}/changes",
                              {"effective_from": "2025-07-01", "status": "dissolved"},
                              status=422)
    assert error_of(still_parent) == ("unit_has_children", "status")
    moved = await post(clients, f"/units/{school}/changes",
                       {"effective_from": "2025-07-01", "parent_id": CITY, "district_id": None})
    assert moved.json()["changed"] == ["parent_id", "district_id"]
    await post(clients, f"/units/{federation}/changes",
               {"effective_from": "2025-07-01", "status": "dissolved"})
    await post(clients, "/units", unit_body(ward, CITY, on="2025-10-01",
                                            kind="upper_level_union", district_id=ward))
    await post(clients, f"/units/{school}/changes",
               {"effective_from": "2025-10-01", "parent_id": ward, "district_id": ward})
    # Registering the school again as first recorded: it is there, whatever became of its
    # first parent since.
    again = await post(clients, "/units", unit_body(school, federation), status=409)
    assert error_of(again) == ("unit_exists", "unit_id")

    reg = clients["registration"]
    then = (await reg.get(f"/units/{school}?as_of=2024-05-01")).json()
    assert (then["parent_id"], then["ancestors"]) == (federation, [school, federation, CITY])
    july = (await reg.get(f"/units/{school}?as_of=2025-08-01")).json()
    assert (july["parent_id"], july["district_id"]) == (CITY, None)
    today = (await reg.get(f"/units/{school}")).json()
    assert today["ancestors"] == [school, ward, CITY]
    dissolved = (await reg.get(f"/units/{federation}?as_of=2025-07-01")).json()
    assert dissolved["status"] == "dissolved"
    old_children = (await reg.get(f"/units/{federation}/children?as_of=2024-05-01")).json()
    assert [u["unit_id"] for u in old_children["items"]] == [school]
    assert (await reg.get(f"/units/{federation}/children")).json()["items"] == []
    members = (await reg.get(f"/units/{school}/members?as_of=2024-05-01")).json()
    assert [m["member_id"] for m in members["items"]] == [teacher]

    records = await org_records(infrastructure, school, 3)
    assert len(records) == 3 and len({e.id for _, e in records}) == 3
    assert {r.key.decode() for r, _ in records} == {school}
    updates = [e.data for _, e in records if e.type == "thidua.unit.updated.v1"]
    assert [(u.previous_parent_id, u.parent_id) for u in updates] == [(federation, CITY),
                                                                     (CITY, ward)]
    assert [e.district for _, e in records] == [federation, None, ward]

    async def projected():
        for app in system.values():
            unit = await app.state.runtime.directory.unit(school, today_date(today))
            old = await app.state.runtime.directory.unit(school, _d("2024-05-01"))
            if unit is None or unit.parent_id != ward or old is None or (
                    old.parent_id != federation):
                return False
        return True

    await wait_for(projected)


def _d(text: str):
    from datetime import date
    return date.fromisoformat(text)


def today_date(view: dict):
    return _d(view["as_of"])


async def test_a_change_dated_on_or_before_the_latest_one_is_refused(clients):
    unit_id = uid("u-dated")
    await post(clients, "/units", unit_body(unit_id, SCHOOL, on="2025-01-01"))
    await post(clients, f"/units/{unit_id}/changes",
               {"effective_from": "2025-06-01", "member_count": 50})
    for day in ("2025-03-01", "2025-06-01", "2024-12-31"):
        refused = await post(clients, f"/units/{unit_id}/changes",
                             {"effective_from": day, "name": "Tên khác"}, status=409)
        assert error_of(refused) == ("change_not_after_latest", "effective_from")
    earlier = (await clients["registration"].get(f"/units/{unit_id}?as_of=2025-03-01")).json()
    assert earlier["member_count"] == 40 and earlier["name"] == f"Công đoàn {unit_id}"
    unchanged = await post(clients, f"/units/{unit_id}/changes",
                           {"effective_from": "2025-09-01", "member_count": 50}, status=422)
    assert error_of(unchanged)[0] == "nothing_changed"


async def test_a_unit_cannot_move_under_its_own_subtree(clients):
    upper, lower = uid("u-upper"), uid("u-lower")
    await post(clients, "/units", unit_body(upper, SCHOOL))
    await post(clients, "/units", unit_body(lower, upper))
    for parent in (lower, upper):
        refused = await post(clients, f"/units/{upper}/changes",
                             {"effective_from": "2025-01-01", "parent_id": parent}, status=422)
        assert error_of(refused) == ("parent_cycle", "parent_id")
    # A future move of the child under another unit does not make the loop possible earlier.
    assert (await clients["registration"].get(f"/units/{upper}")).json()["parent_id"] == SCHOOL


async def test_commands_outside_the_callers_subtree_are_refused_as_not_found(clients):
    mine = uid("u-mine")
    official = bearer("grassroots_official", unit=SCHOOL)
    await post(clients, "/units", unit_body(mine, SCHOOL), headers=official)
    elsewhere = bearer("upper_official", unit=WARD_NGHIADO)
    refused = await post(clients, "/units", unit_body(uid("u-x"), SCHOOL), headers=elsewhere,
                         status=404)
    assert error_of(refused) == ("unit_not_found", "parent_id")
    moved_away = await post(clients, f"/units/{mine}/changes",
                            {"effective_from": "2025-12-01", "parent_id": HOSPITAL},
                            headers=official, status=404)
    assert error_of(moved_away) == ("unit_not_found", "parent_id")
    not_mine = await post(clients, f"/units/{mine}/changes",
                          {"effective_from": "2025-12-01", "name": "Tên mới"},
                          headers=elsewhere, status=404)
    assert error_of(not_mine) == ("unit_not_found", "unit_id")
    member = await post(clients, "/members", member_body(uid("m-x"), HOSPITAL), headers=official,
                        status=404)
    assert error_of(member) == ("unit_not_found", "unit_id")
    root = await post(clients, "/units", unit_body(uid("u-root"), None), headers=official,
                      status=422)
    assert error_of(root) == ("parent_required", "parent_id")
    as_member = await post(clients, "/units", unit_body(uid("u-y"), SCHOOL),
                           headers={"Authorization": f"Bearer {mint('member', member='m-lt-0012')}"},
                           status=403)
    assert as_member.json()["errors"][0]["code"] == "role_not_allowed"
    hidden = await clients["registration"].get(f"/units/{mine}", headers=elsewhere)
    assert hidden.status_code == 404


async def test_a_member_transfers_and_leaves_from_dates(clients, infrastructure):
    first, second, member = uid("u-first"), uid("u-second"), uid("m-move")
    await post(clients, "/units", unit_body(first, SCHOOL))
    await post(clients, "/units", unit_body(second, SCHOOL))
    await post(clients, "/members", member_body(member, first))
    moved = await post(clients, f"/members/{member}/changes",
                       {"effective_from": "2024-01-01", "unit_id": second,
                        "job_title": "kế toán"})
    assert moved.json()["changed"] == ["unit_id", "job_title"]
    await post(clients, f"/members/{member}/changes",
               {"effective_from": "2025-01-01", "status": "left"})
    reg = clients["registration"]
    before = (await reg.get(f"/units/{first}/members?as_of=2023-06-01")).json()["items"]
    assert [m["member_id"] for m in before] == [member]
    after = (await reg.get(f"/units/{second}/members?as_of=2024-06-01")).json()["items"]
    assert [(m["member_id"], m["job_title"]) for m in after] == [(member, "kế toán")]
    gone = (await reg.get(f"/units/{second}/members?as_of=2025-06-01")).json()["items"]
    assert [m["status"] for m in gone] == ["left"]
    again = await post(clients, f"/members/{member}/changes",
                       {"effective_from": "2026-01-01", "job_title": "x"}, status=422)
    assert error_of(again) == ("already_left", "status")
    # Keyed by the member's unit then: a transfer's events lie on two partitions.
    records = sorted(await org_records(infrastructure, member, 3),
                     key=lambda found: found[1].data.effective_from)
    assert [r.key.decode() for r, _ in records] == [first, second, second]
    assert records[1][1].data.previous_unit_id == first


async def test_children_and_members_come_a_page_at_a_time(clients):
    parent = uid("u-parent")
    await post(clients, "/units", unit_body(parent, SCHOOL))
    children = sorted(uid("u-child") for _ in range(3))
    for child in children:
        await post(clients, "/units", unit_body(child, parent))
    seen, cursor = [], None
    while True:
        query = f"/units/{parent}/children?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await clients["registration"].get(query)).json()
        seen += [u["unit_id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == children
    bad = await clients["registration"].get(f"/units/{parent}/children?cursor=%%%")
    assert bad.status_code == 422


async def test_a_retry_with_the_same_idempotency_key_records_nothing_more(clients,
                                                                         infrastructure):
    unit_id = uid("u-retry")
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"} | ADMIN
    first = await post(clients, "/units", unit_body(unit_id, SCHOOL), headers=key)
    again = await post(clients, "/units", unit_body(unit_id, SCHOOL), headers=key)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    other = await post(clients, "/units", unit_body(uid("u-other"), SCHOOL), headers=key,
                       status=422)
    assert error_of(other) == ("idempotency_key_reused", "header.Idempotency-Key")
    change_key = {"Idempotency-Key": f"key-{uuid.uuid4()}"} | ADMIN
    body = {"effective_from": "2025-03-01", "member_count": 41}
    changed = await post(clients, f"/units/{unit_id}/changes", body, headers=change_key)
    replay = await post(clients, f"/units/{unit_id}/changes", body, headers=change_key)
    assert replay.content == changed.content
    without_key = await post(clients, "/units", unit_body(unit_id, SCHOOL), status=409)
    assert error_of(without_key) == ("unit_exists", "unit_id")
    records = await org_records(infrastructure, unit_id, 2)
    assert len(records) == 2


@pytest.mark.parametrize(("override", "field"), [
    ({"name": "Công đoàn\u0000"}, "name"),
    ({"is_admin": True}, "is_admin"),
    ({"member_count": 10**30}, "member_count"),
    ({"member_count": "40"}, "member_count"),
    ({"effective_from": "2025-02-30"}, "effective_from"),
    ({"effective_from": 20250101}, "effective_from"),
    ({"effective_from": "9999-01-01"}, "effective_from"),
    ({"name": "x" * 100_000}, "name"),
    ({"parent_id": "u/../hanoi"}, "parent_id"),
    ({"kind": "galaxy"}, "kind"),
    ({"direct_worker_count": 41}, "direct_worker_count"),
])
async def test_odd_input_is_refused_naming_the_field_and_nothing_is_stored(clients, override,
                                                                          field):
    unit_id = uid("u-odd")
    answer = await post(clients, "/units", unit_body(unit_id, SCHOOL) | override, status=422)
    assert field in {e["field"] for e in answer.json()["errors"]}, answer.text
    assert (await clients["registration"].get(f"/units/{unit_id}")).status_code == 404


async def test_odd_changes_are_refused_naming_the_field(clients):
    unit_id, member = uid("u-oddc"), uid("m-oddc")
    await post(clients, "/units", unit_body(unit_id, SCHOOL))
    await post(clients, "/members", member_body(member, unit_id))
    cases = [
        (f"/units/{unit_id}/changes", {"effective_from": "2025-01-01", "status": "active"},
         "status"),
        (f"/units/{unit_id}/changes", {"effective_from": "2025-01-01", "colour": "red"},
         "colour"),
        (f"/members/{member}/changes", {"effective_from": "2025-01-01", "unit_id": "u\u0000"},
         "unit_id"),
        (f"/members/{member}/changes", {"effective_from": "2025-01-01", "unit_id": "u-none"},
         "unit_id"),
        ("/members", member_body(uid("m-oddm"), unit_id, gender="robot"), "gender"),
    ]
    for path, body, field in cases:
        answer = await clients["registration"].post(path, json=body, headers=ADMIN)
        assert answer.status_code in (404, 422), (path, answer.text)
        assert field in {e["field"] for e in answer.json()["errors"]}, (path, answer.text)


async def test_concurrent_retries_with_one_key_record_the_unit_once(clients, infrastructure):
    unit_id = uid("u-race")
    headers = {"Idempotency-Key": f"key-{uuid.uuid4()}"} | ADMIN
    answers = await asyncio.gather(*(
        clients["registration"].post("/units", json=unit_body(unit_id, SCHOOL), headers=headers)
        for _ in range(5)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert len(await org_records(infrastructure, unit_id, 1)) == 1


async def test_two_concurrent_moves_cannot_close_a_loop(clients):
    left, right = uid("u-left"), uid("u-right")
    await post(clients, "/units", unit_body(left, SCHOOL))
    await post(clients, "/units", unit_body(right, SCHOOL))
    answers = await asyncio.gather(
        clients["registration"].post(f"/units/{left}/changes", headers=ADMIN,
                                     json={"effective_from": "2025-05-01", "parent_id": right}),
        clients["registration"].post(f"/units/{right}/changes", headers=ADMIN,
                                     json={"effective_from": "2025-05-01", "parent_id": left}))
    assert sorted(a.status_code for a in answers) == [201, 422], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 422)
    assert error_of(refused) == ("parent_cycle", "parent_id")


async def test_a_former_district_official_reads_the_old_tree_but_records_nothing_there(clients):
    """Đống Đa's federation was dissolved on 1 Jul 2025 (the demo's tree, recorded through
    these commands): what lay under it stays readable to its official, on its dates."""
    former = bearer("upper_official", unit="u-dongda")
    then = await clients["registration"].get(f"/units/{SCHOOL}?as_of=2025-06-30",
                                             headers=former)
    assert then.status_code == 200, then.text
    assert then.json()["ancestors"] == [SCHOOL, "u-dongda", CITY]
    today = await clients["registration"].get(f"/units/{SCHOOL}", headers=former)
    assert today.status_code == 404
    refused = await post(clients, f"/units/{SCHOOL}/changes",
                         {"effective_from": "2099-01-01", "name": "x"}, headers=former,
                         status=404)
    assert error_of(refused) == ("unit_not_found", "unit_id")
    under_dissolved = await post(clients, "/units",
                                 unit_body(uid("u-late"), "u-dongda", on="2025-08-01"),
                                 headers=former, status=422)
    assert error_of(under_dissolved) == ("unit_not_active", "parent_id")

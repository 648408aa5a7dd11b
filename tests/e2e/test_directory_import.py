"""Bulk import of units and members from CSV and .xlsx, against the real database and broker:
a file with bad rows leaves nothing behind and reports each bad row, `on_error=skip` imports
the rest, a re-import emits nothing, odd files are refused with the reason, and officials
import only inside their subtree."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest
from openpyxl import Workbook

from contracts import decode_event
from contracts.topics import ORG
from services.devstack.demo_directory import SCHOOL, WARD_NGHIADO
from tests.support.identity import ADMIN, bearer
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration

UNIT_HEADER = ("unit_id,name,kind,parent_id,effective_from,district_id,sector,member_count,"
               "direct_worker_count")
MEMBER_HEADER = ("member_id,unit_id,full_name,gender,direct_worker,union_officer,job_title,"
                 "effective_from")


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def csv_file(header: str, *rows: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join((header, *rows)) + "\r\n").encode(encoding)


async def upload(clients, kind: str, body: bytes, *, headers: dict | None = None,
                 params: str = "", status: int = 202, content_type: str = "text/csv"):
    answer = await clients["registration"].post(
        f"/imports/{kind}{params}", content=body,
        headers={**(headers or ADMIN), "Content-Type": content_type})
    assert answer.status_code == status, answer.text
    return answer.json()


async def finished(clients, job: dict, headers: dict | None = None) -> dict:
    # A deadline in time, not in polls: on a busy machine an import's rows take a while.
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        answer = await clients["registration"].get(f"/imports/{job['job_id']}",
                                                   headers=headers or ADMIN)
        assert answer.status_code == 200, answer.text
        state = answer.json()
        if state["status"] in ("succeeded", "refused", "failed"):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"import {job['job_id']} did not finish: {state}")
        await asyncio.sleep(0.05)


async def imported(clients, kind: str, body: bytes, **options) -> dict:
    headers = options.pop("headers", None)
    job = await upload(clients, kind, body, headers=headers, **options)
    return await finished(clients, job, headers)


async def events_about(infrastructure, subjects: set[str]) -> list:
    records = await read_topic(infrastructure.kafka_bootstrap_servers, ORG.name)
    found = []
    for record in records:
        event = decode_event(record.value)
        if event.subject in subjects:
            found.append((record, event))
    return found


async def events_settled(infrastructure, subjects: set[str], count: int) -> list:
    async def enough():
        found = await events_about(infrastructure, subjects)
        return found if len(found) >= count else None

    await wait_for(enough)
    await asyncio.sleep(0.5)  # and no more than that arrive
    return await events_about(infrastructure, subjects)


def errors_of(job: dict) -> set[tuple[int, str | None, str]]:
    return {(e["row"], e["column"], e["code"]) for e in job["errors"]}


async def test_units_and_members_import_with_their_events_and_a_reimport_changes_nothing(
        clients, infrastructure):
    upper, school = uid("u-imp-upper"), uid("u-imp-school")
    teachers = [uid("m-imp") for _ in range(3)]
    # The child precedes its parent in the file: the order of rows does not matter.
    units = csv_file(
        UNIT_HEADER,
        f"{school},Công đoàn Trường Tiểu học Dịch Vọng,grassroots_union,{upper},01/09/2021,,"
        "education,38,0",
        f"{upper},Công đoàn Khối trường học,upper_level_union,{SCHOOL},2021-01-01,,education,"
        "120,4")
    job = await imported(clients, "units", units)
    assert (job["status"], job["rows_total"], job["registered"], job["rows_bad"]) == (
        "succeeded", 2, 2, 0), job
    view = (await clients["registration"].get(f"/units/{school}")).json()
    assert view["ancestors"][:3] == [school, upper, SCHOOL]
    assert (view["member_count"], view["effective_from"]) == (38, "2021-09-01")
    assert view["district_id"] is not None  # inherited through the new parent

    members = csv_file(
        MEMBER_HEADER,
        f"{teachers[0]},{school},Nguyễn Thị Hồng Nhung,nữ,,x,giáo viên,2021-09-01",
        f"{teachers[1]},{school},Trần Văn Bình,nam,có,,bảo vệ,2021-09-01",
        f"{teachers[2]},{school},Lê Thu Hà,female,false,false,,2022-01-15")
    job = await imported(clients, "members", members)
    assert (job["status"], job["registered"]) == ("succeeded", 3), job
    page = (await clients["registration"].get(f"/units/{school}/members")).json()
    by_id = {m["member_id"]: m for m in page["items"]}
    assert by_id[teachers[0]]["gender"] == "female" and by_id[teachers[0]]["union_officer"]
    assert by_id[teachers[1]]["direct_worker"] and by_id[teachers[2]]["job_title"] is None

    subjects = {upper, school, *teachers}
    found = await events_settled(infrastructure, subjects, 5)
    assert len(found) == 5 and len({e.id for _, e in found}) == 5
    by_subject = {e.subject: (r, e) for r, e in found}
    record, event = by_subject[teachers[0]]
    assert event.type == "thidua.member.registered.v1"
    assert record.key.decode() == school  # member events are keyed by their unit
    assert event.data.actor.role == "city_admin" and event.data.union_officer
    assert event.district == view["district_id"]
    unit_record, unit_event = by_subject[school]
    assert unit_record.key.decode() == school and unit_event.data.parent_id == upper
    assert {e.correlationid for _, e in found if e.subject in (upper, school)} == {
        unit_event.correlationid}

    again = await imported(clients, "units", units)
    assert (again["status"], again["registered"], again["unchanged"]) == ("succeeded", 0, 2)
    again = await imported(clients, "members", members)
    assert (again["registered"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert len(await events_settled(infrastructure, subjects, 5)) == 5

    changed = csv_file(
        MEMBER_HEADER,
        f"{teachers[0]},{school},Nguyễn Thị Hồng Nhung,nữ,,x,tổ trưởng chuyên môn,2024-09-01",
        f"{teachers[1]},{school},Trần Văn Bình,nam,có,,bảo vệ,2021-09-01")
    job = await imported(clients, "members", changed)
    assert (job["updated"], job["unchanged"]) == (1, 1), job
    found = await events_settled(infrastructure, subjects, 6)
    updates = [e for _, e in found if e.type == "thidua.member.updated.v1"]
    assert [(u.subject, u.data.changed) for u in updates] == [(teachers[0], ["job_title"])]
    before = (await clients["registration"].get(
        f"/units/{school}/members?as_of=2023-01-01")).json()
    kept = {m["member_id"]: m["job_title"] for m in before["items"]}
    assert kept[teachers[0]] == "giáo viên"  # the earlier state is not rewritten


async def test_a_file_with_bad_rows_is_refused_whole_with_a_report_per_row(clients,
                                                                          infrastructure):
    school = uid("u-imp-bad")
    good, repeated = uid("m-good"), uid("m-rep")
    await imported(clients, "units", csv_file(
        UNIT_HEADER, f"{school},Công đoàn Công ty May 10,grassroots_union,{SCHOOL},2020-01-01,,"
                     "enterprise,500,420"))
    rows = (
        f"{good},{school},Phạm Thị Mai,nữ,x,,công nhân may,2020-03-01",         # row 2
        f"{uid('m-x')},u-khong-co,Đỗ Văn Hùng,nam,,,,2020-03-01",               # 3: unit
        f"bad id!,{school},Vũ Thị Lan,nữ,,,,2020-03-01",                        # 4: id
        f"{uid('m-x')},{school},,nữ,,,,2020-03-01",                             # 5: name
        f"{uid('m-x')},{school},Hoàng Văn Nam,nam,maybe,,,2020-03-01",          # 6: flag
        f"{uid('m-x')},{school},Ngô Thị Hoa,nữ,,,,31/02/2020",                  # 7: date
        f"{uid('m-x')},{school},Bùi Văn Tú,robot,,,,2020-03-01",                # 8: gender
        f"{uid('m-x')},{school},Đinh Văn Long,nam,,,,2019-06-01",               # 9: not yet
        f"{repeated},{school},Trịnh Thị Yến,nữ,,,,2020-03-01",                  # 10
        f"{repeated},{school},Trịnh Thị Yến,nữ,,,,2020-03-01",                  # 11: repeat
        ",,,,,,,",                                                             # 12: blank
        f"{uid('m-x')},{school},Tên\x00có NUL,nữ,,,,2020-03-01",                # 13: NUL
    )
    job = await imported(clients, "members", csv_file(MEMBER_HEADER, *rows))
    assert job["status"] == "refused" and job["registered"] == 0, job
    assert job["rows_total"] == 11 and job["rows_bad"] == 9
    assert errors_of(job) >= {
        (3, "unit_id", "unit_not_found"), (4, "member_id", "string_pattern_mismatch"),
        (5, "full_name", "missing"), (6, "direct_worker", "not_a_flag"),
        (7, "effective_from", "date_invalid"), (8, "gender", "literal_error"),
        (9, "unit_id", "unit_not_active"), (11, "member_id", "repeated_in_file"),
        (13, "full_name", "nul_character")}
    assert all(e["reason"] for e in job["errors"])
    page = (await clients["registration"].get(f"/units/{school}/members")).json()
    assert page["items"] == []  # nothing of the file, not even its good rows
    assert await events_about(infrastructure, {good, repeated}) == []

    skipped = await imported(clients, "members", csv_file(MEMBER_HEADER, *rows),
                             params="?on_error=skip")
    assert (skipped["status"], skipped["registered"], skipped["rows_bad"]) == (
        "succeeded", 2, 9), skipped
    page = (await clients["registration"].get(f"/units/{school}/members")).json()
    assert {m["member_id"] for m in page["items"]} == {good, repeated}
    assert len(await events_settled(infrastructure, {good, repeated}, 2)) == 2


async def test_units_that_cannot_hang_from_the_tree_are_refused(clients):
    a, b, child, ok = uid("u-loop-a"), uid("u-loop-b"), uid("u-orphan"), uid("u-ok")
    rows = (
        f"{a},Vòng A,grassroots_union,{b},2021-01-01,,other,1,0",              # 2: a loop
        f"{b},Vòng B,grassroots_union,{a},2021-01-01,,other,1,0",              # 3
        f"{child},Con,grassroots_union,{ok},2020-01-01,,other,1,0",            # 4: before parent
        f"{ok},Được,grassroots_union,{SCHOOL},2021-01-01,,other,5,9",          # 5: counts
        f"{uid('u-root')},Gốc,city_federation,,2021-01-01,,other,1,0",         # 6: root (admin)
    )
    official = bearer("grassroots_official", unit=SCHOOL)
    job = await imported(clients, "units", csv_file(UNIT_HEADER, *rows), headers=official)
    assert job["status"] == "refused"
    assert errors_of(job) == {
        (2, "parent_id", "parent_not_imported"), (3, "parent_id", "parent_not_imported"),
        (4, "parent_id", "unit_not_found"),  # its parent's row was refused
        (5, "direct_worker_count", "direct_workers_exceed_members"),
        (6, "parent_id", "parent_required")}
    for unit in (a, b, child, ok):
        assert (await clients["registration"].get(f"/units/{unit}")).status_code == 404


async def test_an_xlsx_workbook_imports_like_csv(clients, infrastructure):
    school = uid("u-xlsx")
    await imported(clients, "units", csv_file(
        UNIT_HEADER, f"{school},Công đoàn Bệnh viện Đa khoa Đức Giang,grassroots_union,{SCHOOL},"
                     "2020-01-01,,health,900,0"))
    nurses = [uid("m-xlsx") for _ in range(2)]
    book = Workbook()
    sheet = book.active
    sheet.append(["Member_ID ", "unit_id", "full_name", "gender", "direct_worker",
                  "union_officer", "job_title", "effective_from"])
    from datetime import datetime
    sheet.append([nurses[0], school, "Lương Thị Thu", "nữ", True, None, "điều dưỡng",
                  datetime(2020, 2, 1)])
    sheet.append([None] * 8)
    sheet.append([nurses[1], school, "Kiều Văn Dũng", "nam", 0, 1, "bác sĩ", "2020-02-01"])
    buffer = io.BytesIO()
    book.save(buffer)
    job = await imported(clients, "members", buffer.getvalue(),
                         content_type="application/vnd.openxmlformats-officedocument"
                                      ".spreadsheetml.sheet", params="?filename=nhan-su.xlsx")
    assert (job["status"], job["format"], job["registered"], job["filename"]) == (
        "succeeded", "xlsx", 2, "nhan-su.xlsx"), job
    page = (await clients["registration"].get(f"/units/{school}/members")).json()
    by_id = {m["member_id"]: m for m in page["items"]}
    assert by_id[nurses[0]]["direct_worker"] and not by_id[nurses[0]]["union_officer"]
    assert by_id[nurses[1]]["union_officer"] and by_id[nurses[1]]["effective_from"] == "2020-02-01"

    bad = Workbook()
    bad.active.append(["member_id", "unit_id", "full_name", "gender", "effective_from"])
    bad.active.append([uid("m-big"), school, "Â" * 5000, "nữ", "2020-02-01"])
    buffer = io.BytesIO()
    bad.save(buffer)
    job = await imported(clients, "members", buffer.getvalue())
    assert errors_of(job) == {(2, "full_name", "string_too_long")}


async def test_odd_files_are_refused_with_the_reason(clients):
    school = uid("u-odd")
    await imported(clients, "units", csv_file(
        UNIT_HEADER, f"{school},Công đoàn Phường,grassroots_union,{SCHOOL},2020-01-01,,other,3,0"))
    member = uid("m-bom")
    bom = "\ufeff".encode() + csv_file(MEMBER_HEADER,
                                       f"{member},{school},Mạc Thị Bưởi,nữ,,,,2020-01-01")
    assert (await imported(clients, "members", bom))["registered"] == 1

    semicolons = csv_file(MEMBER_HEADER.replace(",", ";"),
                          f"{uid('m-semi')};{school};Tạ Văn Khoa;nam;;;;2020-01-01")
    assert (await imported(clients, "members", semicolons))["registered"] == 1

    # A legacy encoding is refused at once when the header's read reaches it, else by the job.
    legacy = "Lê Văn Đào,nam,,,,2020-01-01"
    early = csv_file(MEMBER_HEADER, f"{uid('m-enc')},{school},{legacy}", encoding="cp1258")
    problem = await upload(clients, "members", early, status=422)
    assert problem["errors"][0]["code"] == "not_utf8"
    late = csv_file(MEMBER_HEADER, *[f"{uid('m-enc')},{school},Nguyen Van A,nam,,,,2020-01-01"
                                     for _ in range(2000)],
                    f"{uid('m-enc')},{school},{legacy}", encoding="cp1258")
    job = await imported(clients, "members", late)
    assert job["status"] == "refused" and job["registered"] == 0
    assert {e["code"] for e in job["errors"]} == {"not_utf8"}

    huge = csv_file(MEMBER_HEADER, f"{uid('m-huge')},{school},{'A' * 100_000},nam,,,,2020-01-01")
    job = await imported(clients, "members", huge)
    assert job["status"] == "refused" and {e["code"] for e in job["errors"]} == {
        "csv_malformed"}

    problem = await upload(clients, "members", csv_file(MEMBER_HEADER + ",ghi_chu,gender"),
                           status=422)
    assert {(e["code"], e["field"]) for e in problem["errors"]} == {
        ("column_unknown", "file.ghi_chu"), ("column_repeated", "file.gender")}
    problem = await upload(clients, "units", csv_file("unit_id,name"), status=422)
    assert {e["field"] for e in problem["errors"]} == {"file.kind", "file.effective_from"}
    for empty in (b"", b"\xef\xbb\xbf\r\n"):
        problem = await upload(clients, "members", empty, status=422)
        assert problem["errors"][0]["code"] == "file_empty"
    problem = await upload(clients, "members", b"PK\x03\x04 not really a workbook", status=422)
    assert problem["errors"][0]["code"] == "xlsx_unreadable"

    async def endless():
        yield b"x" * 1024

    answer = await clients["registration"].post(
        "/imports/members", content=endless(),
        headers={**ADMIN, "Content-Type": "text/csv", "Content-Length": str(1 << 40)})
    assert answer.status_code == 413, answer.text


async def test_officials_import_only_inside_their_subtree(clients):
    school = uid("u-scope")
    official = bearer("grassroots_official", unit=SCHOOL)
    job = await imported(clients, "units", csv_file(
        UNIT_HEADER, f"{school},Công đoàn Tổ,grassroots_union,{SCHOOL},2020-01-01,,other,3,0"),
        headers=official)
    assert job["registered"] == 1
    elsewhere = bearer("upper_official", unit=WARD_NGHIADO)
    members = csv_file(MEMBER_HEADER, f"{uid('m-scope')},{school},Quách Văn Sơn,nam,,,,"
                                      "2020-01-01")
    job = await imported(clients, "members", members, headers=elsewhere)
    assert errors_of(job) == {(2, "unit_id", "unit_not_found")}
    assert "no unit" in job["errors"][0]["reason"]
    # The job of one official is not another's to read; a member may not import at all.
    assert (await clients["registration"].get(f"/imports/{job['job_id']}",
                                              headers=official)).status_code == 404
    mine = (await clients["registration"].get("/imports?kind=units", headers=official)).json()
    assert all(j["kind"] == "units" for j in mine["items"])
    assert job["job_id"] not in {j["job_id"] for j in mine["items"]}
    member = bearer("member", member="m-lt-0007")
    answer = await clients["registration"].post("/imports/members", content=members,
                                                headers={**member, "Content-Type": "text/csv"})
    assert answer.status_code == 403


async def test_a_retried_upload_with_the_same_key_makes_one_job(clients):
    school = uid("u-idem")
    body = csv_file(UNIT_HEADER, f"{school},Công đoàn Xí nghiệp,grassroots_union,{SCHOOL},"
                                 "2020-01-01,,enterprise,60,50")
    key = {**ADMIN, "Idempotency-Key": uuid.uuid4().hex}
    first = await upload(clients, "units", body, headers=key)
    second = await upload(clients, "units", body, headers=key)
    assert second["job_id"] == first["job_id"]
    other = await clients["registration"].post(
        "/imports/units", content=body + b"\r\n", headers={**key, "Content-Type": "text/csv"})
    assert other.status_code == 422
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert (await finished(clients, first))["registered"] == 1


async def test_jobs_are_listed_newest_first_a_page_at_a_time(clients):
    for _ in range(3):
        await upload(clients, "units", csv_file(UNIT_HEADER))
    first = (await clients["registration"].get("/imports?limit=2")).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (await clients["registration"].get(
        f"/imports?limit=2&cursor={first['next_cursor']}")).json()
    assert not {j["job_id"] for j in first["items"]} & {j["job_id"] for j in second["items"]}
    assert first["items"][0]["created_at"] >= second["items"][0]["created_at"]
    bad = await clients["registration"].get("/imports?cursor=nonsense")
    assert bad.status_code == 422


async def download(clients, path: str, headers: dict | None = None, status: int = 200):
    answer = await clients["registration"].get(path, headers=headers or ADMIN)
    assert answer.status_code == status, answer.text
    return answer


async def test_the_directory_exports_to_csv_and_xlsx_and_imports_back_unchanged(clients):
    import csv as csv_module

    from openpyxl import load_workbook

    upper, school = uid("u-exp-upper"), uid("u-exp-school")
    members = [uid("m-exp") for _ in range(3)]
    await imported(clients, "units", csv_file(
        UNIT_HEADER,
        f'{upper},"Công đoàn Cụm ""Cầu Giấy"" <khối> & trường",upper_level_union,{SCHOOL},'
        "2021-01-01,,education,120,4",
        f"{school},Công đoàn Trường Mầm non Hoa Sen,grassroots_union,{upper},2021-02-01,,"
        "education,25,0"))
    await imported(clients, "members", csv_file(
        MEMBER_HEADER, *[f"{m},{school},Đặng Thị Hoa {n},nữ,,{'x' if n == 0 else ''},"
                         f"giáo viên,2021-03-01" for n, m in enumerate(members)]))

    answer = await download(clients, f"/exports/units?unit_id={upper}")
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="units-' in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv_module.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [r["unit_id"] for r in rows] == sorted([upper, school])
    named = {r["unit_id"]: r["name"] for r in rows}
    assert named[upper] == 'Công đoàn Cụm "Cầu Giấy" <khối> & trường'
    before = (await download(clients, f"/exports/units?unit_id={upper}&as_of=2021-01-15"))
    assert upper in before.text and school not in before.text

    answer = await download(clients, f"/exports/members?unit_id={upper}&format=xlsx")
    sheet = load_workbook(io.BytesIO(answer.content), read_only=True).worksheets[0]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0] == MEMBER_HEADER.split(",")
    assert [r[0] for r in table[1:]] == sorted(members)
    assert table[1][4] in (False, 0) and isinstance(table[1][5], bool)

    for fmt in ("csv", "xlsx"):
        body = (await download(clients, f"/exports/members?unit_id={upper}&format={fmt}")).content
        job = await imported(clients, "members", body)
        assert (job["status"], job["unchanged"], job["registered"]) == ("succeeded", 3, 0), job
        body = (await download(clients, f"/exports/units?unit_id={upper}&format={fmt}")).content
        job = await imported(clients, "units", body)
        assert (job["unchanged"], job["registered"], job["updated"]) == (2, 0, 0), job


async def test_exports_stay_inside_the_callers_subtree(clients):
    elsewhere = bearer("upper_official", unit=WARD_NGHIADO)
    refused = await download(clients, f"/exports/members?unit_id={SCHOOL}", headers=elsewhere,
                             status=404)
    assert refused.json()["errors"][0]["code"] == "unit_not_found"
    theirs = await download(clients, "/exports/units", headers=elsewhere)
    assert SCHOOL not in theirs.text and WARD_NGHIADO in theirs.text
    initiatives = await download(clients, "/exports/initiatives?format=xlsx", headers=elsewhere)
    assert initiatives.content.startswith(b"PK")
    member = bearer("member", member="m-lt-0007")
    await download(clients, "/exports/units", headers=member, status=403)


async def test_an_imported_member_moves_later_and_a_reimport_keeps_the_move(clients,
                                                                           infrastructure):
    """The import's states and the single commands' share one chain per member: a move after
    an import, a re-import of the first file, and a row dated into the moved history."""
    first, second = uid("u-imp-first"), uid("u-imp-second")
    units = csv_file(
        UNIT_HEADER,
        f"{first},Công đoàn Công ty TNHH May Đức Giang,grassroots_union,{SCHOOL},2021-01-01,,"
        "enterprise,2,2",
        f"{second},Công đoàn Công ty CP Dệt Kim Đông Xuân,grassroots_union,{SCHOOL},2021-01-01,,"
        "enterprise,0,0")
    assert (await imported(clients, "units", units))["registered"] == 2
    worker, other = uid("m-imp-move"), uid("m-imp-stay")
    members = csv_file(MEMBER_HEADER,
                       f"{worker},{first},Phạm Thị Thu Trang,nữ,x,,công nhân may,2021-03-01",
                       f'{other},{first},"Đỗ Văn ""Hùng"" \\ Út",nam,x,,thợ cơ khí,2021-03-01')
    assert (await imported(clients, "members", members))["registered"] == 2
    moved = await clients["registration"].post(
        f"/members/{worker}/changes", headers=ADMIN,
        json={"effective_from": "2024-07-01", "unit_id": second})
    assert moved.status_code == 201, moved.text

    again = await imported(clients, "members", members)  # each row still holds on its date
    assert (again["status"], again["unchanged"], again["updated"]) == ("succeeded", 2, 0), again
    into_history = csv_file(MEMBER_HEADER,
                            f"{worker},{first},Phạm Thị Thu Trang,nữ,x,x,tổ trưởng,2023-01-01")
    refused = await imported(clients, "members", into_history)
    assert errors_of(refused) == {(2, "effective_from", "change_not_after_latest")}
    reg = clients["registration"]
    before = (await reg.get(f"/units/{first}/members?as_of=2024-06-30")).json()["items"]
    after = (await reg.get(f"/units/{second}/members?as_of=2024-07-01")).json()["items"]
    assert sorted(m["member_id"] for m in before) == sorted([worker, other])
    assert [m["member_id"] for m in after] == [worker]
    found = await events_settled(infrastructure, {worker, other}, 3)
    assert len(found) == 3
    # The event written by the database escapes what a name may hold.
    assert [e.data.full_name for _, e in found if e.subject == other] == ['Đỗ Văn "Hùng" \\ Út']


async def test_the_database_refuses_overlapping_member_states(clients, system):
    """The chain of a member's states is guarded by the database itself (migration 0014), so
    no writer, however it races, can record two states of a member on one day."""
    unit, member = uid("u-chain"), uid("m-chain")
    units = csv_file(UNIT_HEADER, f"{unit},Công đoàn Trạm Y tế phường Láng,grassroots_union,"
                                  f"{SCHOOL},2021-01-01,,health,1,0")
    assert (await imported(clients, "units", units))["registered"] == 1
    members = csv_file(MEMBER_HEADER, f"{member},{unit},Vũ Thị Lan,nữ,,,điều dưỡng,2021-01-01")
    assert (await imported(clients, "members", members))["registered"] == 1
    moved = await clients["registration"].post(f"/members/{member}/changes", headers=ADMIN,
                                               json={"effective_from": "2024-01-01",
                                                     "job_title": "hộ lý"})
    assert moved.status_code == 201, moved.text
    pool = system["registration"].state.runtime.pool
    insert = """INSERT INTO member_states (member_id, effective_from, valid_until, unit_id,
                    full_name, gender, direct_worker, union_officer, status, event_id,
                    recorded_by)
                VALUES ($1, $2::date, $3::date, $4, 'x', 'female', false, false, 'active', 'e',
                        '{}')"""
    # [2021, 2024) and [2024, ∞) stand. A second open state, a second state ending on 1 Jan
    # 2024, a state ending on a day no state starts, an empty state and one ending before it
    # starts.
    async with pool.acquire() as conn:
        for start, until, error in (
                ("2025-01-01", None, "UniqueViolationError"),
                ("2022-01-01", "2024-01-01", "UniqueViolationError"),
                ("2022-01-01", "2023-01-01", "ForeignKeyViolationError"),
                ("2022-01-01", "2022-01-01", "CheckViolationError"),
                ("2022-06-01", "2022-01-01", "CheckViolationError")):
            with pytest.raises(asyncpg.PostgresError) as refused:
                async with conn.transaction():
                    await conn.execute(insert, member, date.fromisoformat(start),
                                       until and date.fromisoformat(until), unit)
            assert type(refused.value).__name__ == error, (start, until, refused.value)
    states = await pool.fetch("SELECT lower(valid), upper(valid) FROM member_states "
                              "WHERE member_id = $1 ORDER BY effective_from", member)
    assert [tuple(s) for s in states] == [(date(2021, 1, 1), date(2024, 1, 1)),
                                          (date(2024, 1, 1), None)]

    # The imported state names its import job, which holds the importer once (migration 0016);
    # the command's state carries its actor itself. A state names exactly one recorder, a job
    # that exists, and jobs are never removed.
    close = "UPDATE member_states SET valid_until = $2 WHERE member_id = $1 AND valid_until IS NULL"
    recorders = await pool.fetch("""
        SELECT s.recorded_by IS NULL AS by_job,
               coalesce(s.recorded_by, j.requested_by)->>'role' AS role
        FROM member_states s LEFT JOIN import_jobs j ON j.job_id = s.import_job_id
        WHERE s.member_id = $1 ORDER BY s.effective_from""", member)
    assert [tuple(r) for r in recorders] == [(True, "city_admin"), (False, "city_admin")]
    job_id = await pool.fetchval("SELECT import_job_id FROM member_states WHERE member_id = $1 "
                                 "AND import_job_id IS NOT NULL", member)
    by_job = """INSERT INTO member_states (member_id, effective_from, unit_id, full_name, gender,
                    direct_worker, union_officer, status, event_id, recorded_by, import_job_id)
                VALUES ($1, '2030-01-01', $2, 'x', 'female', false, false, 'active', 'e', $3::jsonb,
                        $4)"""
    async with pool.acquire() as conn:
        for actor, job, error in ((None, None, "CheckViolationError"),
                                  ("{}", job_id, "CheckViolationError"),
                                  (None, uid("imp-none"), "ForeignKeyViolationError")):
            with pytest.raises(asyncpg.PostgresError) as refused:
                async with conn.transaction():
                    await conn.execute(close, member, date(2030, 1, 1))
                    await conn.execute(by_job, member, unit, actor, job)
            assert type(refused.value).__name__ == error, (actor, job, refused.value)
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute("DELETE FROM import_jobs WHERE job_id = $1", job_id)

    # A state names a registered member and unit (checked per statement, migration 0015), and
    # neither is ever removed.
    async with pool.acquire() as conn:
        newcomer = uid("m-newcomer")
        for who, where, constraint in ((uid("m-nobody"), unit, "member_states_member_id_known"),
                                       (newcomer, uid("u-nowhere"), "member_states_unit_id_known")):
            with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
                async with conn.transaction():
                    await conn.execute("INSERT INTO members (member_id) VALUES ($1)", newcomer)
                    await conn.execute(insert, who, date(2030, 1, 1), None, where)
            assert refused.value.constraint_name == constraint
        for table, key in (("members", member), ("units", unit)):
            with pytest.raises(asyncpg.RestrictViolationError):
                await conn.execute(f"DELETE FROM {table} WHERE {table[:-1]}_id = $1", key)

    # Two writers changing the member at once, each closing the open state and opening its own:
    # the second, let through once the first commits, finds no open state to close and is
    # refused rather than leaving two open states.
    async with pool.acquire() as one, pool.acquire() as two:
        first = one.transaction()
        await first.start()
        await one.execute(close, member, date(2025, 1, 1))
        await one.execute(insert, member, date(2025, 1, 1), None, unit)
        second = two.transaction()
        await second.start()
        racing = asyncio.create_task(two.execute(close, member, date(2025, 6, 1)))
        await asyncio.sleep(0.2)
        assert not racing.done()  # waits for the first writer's row lock
        await first.commit()
        assert await racing == "UPDATE 0"
        with pytest.raises(asyncpg.UniqueViolationError):
            await two.execute(insert, member, date(2025, 6, 1), None, unit)
        await second.rollback()
    states = await pool.fetch("SELECT lower(valid), upper(valid) FROM member_states "
                              "WHERE member_id = $1 ORDER BY effective_from", member)
    assert [tuple(s) for s in states][1:] == [(date(2024, 1, 1), date(2025, 1, 1)),
                                              (date(2025, 1, 1), None)]


async def test_an_id_registered_by_a_command_during_the_import_fails_it_whole(clients, system):
    """New ids are not locked while the file is checked (they do not exist yet): a member
    registered meanwhile makes the import's insert fail, and the import leaves nothing."""
    from services.registration import directory_import, import_checks

    unit = uid("u-race")
    units = csv_file(UNIT_HEADER, f"{unit},Công đoàn Công ty May Đức Giang,grassroots_union,"
                                  f"{SCHOOL},2021-01-01,,enterprise,2,2")
    assert (await imported(clients, "units", units))["registered"] == 1
    first, raced = uid("m-race"), uid("m-race")

    async def rows():
        for n, member in enumerate((first, raced), start=2):
            yield (n, member, unit, "Phạm Thị Thu", "female", True, False, None, date(2021, 3, 1))

    pool = system["registration"].state.runtime.pool
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await directory_import.stage(conn, "members", rows())
            await import_checks.check(conn, "members",
                                      import_checks.Caller(None, date.today(), "{}"))
            await pool.execute("INSERT INTO members (member_id) VALUES ($1)", raced)
            with pytest.raises(directory_import.ConcurrentRegistration):
                await directory_import.record(conn, "members", source="registration",
                                              time=datetime.now(UTC), correlation_id="c",
                                              actor_json="{}")
        finally:
            await transaction.rollback()
    assert await pool.fetchval("SELECT count(*) FROM member_states WHERE member_id = ANY($1)",
                               [first, raced]) == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE convert_from(value, 'UTF8') "
                               "LIKE '%' || $1 || '%'", first) == 0

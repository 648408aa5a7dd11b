"""Officials import their members' contact points from a CSV or .xlsx sheet through notify's
API: checked row by row, applied for the rows that pass, reported by row, column and reason."""

from __future__ import annotations

import io
import uuid

import pytest
from openpyxl import Workbook

from services.devstack.demo_directory import CAUGIAY, HOSPITAL, SCHOOL, TEACHER, WARD_LANG
from tests.support.identity import bearer

pytestmark = pytest.mark.integration
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLLEAGUE, NURSE = "m-lt-0012", "m-bve-0031"


def official(unit: str = SCHOOL, role: str = "grassroots_official") -> dict:
    return bearer(role, unit=unit)


async def post(client, unit: str, body: bytes, content_type: str = CSV, *,
               headers: dict | None = None, dry_run: bool = False):
    return await client.post(
        f"/units/{unit}/contacts/import", content=body,
        params={"dry_run": "true"} if dry_run else None,
        headers=(headers or official()) | {"content-type": content_type})


async def contacts(client, member_id: str) -> dict:
    answer = await client.get(f"/members/{member_id}/contacts", headers=official())
    return answer.json()


async def test_a_sheet_is_applied_for_the_rows_that_pass_and_the_rest_reported(
        clients, directory_seeded):
    notify = clients["notify"]
    sheet = (
        "\ufeffMã đoàn viên,Thư điện tử,Số điện thoại\r\n"
        f"{TEACHER},Lan.Nguyen@Example.VN,0912 345 678\r\n"
        f"{COLLEAGUE},minh@@example,\r\n"
        "\r\n"
        f"{NURSE},hang@example.vn,\r\n"
        f"{TEACHER},again@example.vn,\r\n"
        ",nobody@example.vn,\r\n"
    ).encode()
    answer = await post(notify, SCHOOL, sheet)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["rows"], report["accepted"], report["changed"], report["dry_run"]) == (
        5, 1, 1, False)
    assert [(r["row"], r["column"]) for r in report["refused"]] == [
        (3, "email"), (5, "member_id"), (6, "member_id"), (7, "member_id")]
    assert report["refused"][1]["reason"] == "not a member of this unit or a unit below it"
    assert report["refused"][2]["reason"] == "the same member as row 2"
    kept = await contacts(notify, TEACHER)
    assert (kept["email"], kept["phone"]) == ("Lan.Nguyen@example.vn", "0912 345 678")
    assert (await contacts(notify, COLLEAGUE))["email"] != "minh@@example"


async def test_an_xlsx_sheet_is_read_and_a_numeric_phone_is_refused(clients,
                                                                     directory_seeded):
    book = Workbook()
    sheet = book.active
    sheet.append(["member_id", "email", "phone"])
    sheet.append([COLLEAGUE, "minh.tran@example.vn", 912345678])
    sheet.append([COLLEAGUE.replace("12", "99"), None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    answer = await post(clients["notify"], SCHOOL, buffer.getvalue(), XLSX)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert [(r["row"], r["column"], r["reason"]) for r in report["refused"]] == [
        (2, "phone", "stored as a number, which drops the leading 0: format the column as "
                     "text"),
        (3, "email", "neither an e-mail nor a phone")]


async def test_a_dry_run_reports_and_changes_nothing_and_a_retry_replays(clients,
                                                                         directory_seeded):
    notify = clients["notify"]
    before = await contacts(notify, COLLEAGUE)
    sheet = f"member_id,email\n{COLLEAGUE},dry.{uuid.uuid4().hex[:6]}@example.vn\n".encode()
    dry = await post(notify, SCHOOL, sheet, dry_run=True)
    assert (dry.json()["accepted"], dry.json()["changed"]) == (1, 0)
    assert await contacts(notify, COLLEAGUE) == before
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await post(notify, SCHOOL, sheet, headers=official() | key)
    again = await post(notify, SCHOOL, sheet, headers=official() | key)
    assert first.json()["changed"] == 1
    assert (again.json(), again.headers.get("Idempotent-Replayed")) == (first.json(), "true")


async def test_an_upper_union_imports_for_its_subtree(clients, directory_seeded):
    sheet = f"member_id,phone\n{TEACHER},+84 912 000 111\n".encode()
    # The school lies under the ward union since the 2025 reorganisation.
    answer = await post(clients["notify"], WARD_LANG, sheet,
                        headers=official(WARD_LANG, "upper_official"))
    assert answer.json()["accepted"] == 1, answer.text


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"", CSV, "the sheet is empty: a header row is needed"),
    (b"name,email\nx,y@example.vn\n", CSV, "no member_id column in the header row"),
    (b"member_id\nm-1\n", CSV, "no email or phone column in the header row"),
    (b"member_id,email\n\xff\xfe\n", CSV, "the CSV is not UTF-8"),
    (b"member_id,email\nm\x00,a@b.vn\n", CSV, None),
    (b"PK\x03\x04 not really", XLSX, "not a readable .xlsx workbook"),
    (b"{}", "application/json", None),
])
async def test_an_unreadable_sheet_is_refused_naming_the_body(clients, directory_seeded, body,
                                                              content_type, reason):
    answer = await post(clients["notify"], SCHOOL, body, content_type)
    if reason is None and answer.status_code == 200:
        # A NUL is a bad member id, reported per row rather than refusing the sheet.
        assert answer.json()["refused"][0]["column"] == "member_id"
        return
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["code"]) == ("body", "unreadable_sheet")
    if reason:
        assert error["message"] == reason


async def test_another_units_official_or_a_member_cannot_import(clients, directory_seeded):
    sheet = f"member_id,email\n{TEACHER},x@example.vn\n".encode()
    other = await post(clients["notify"], SCHOOL, sheet, headers=official(HOSPITAL))
    assert other.status_code == 404
    outside = await post(clients["notify"], CAUGIAY, sheet)
    assert outside.status_code == 404
    member = await post(clients["notify"], SCHOOL, sheet,
                        headers=bearer("member", member=TEACHER))
    assert member.status_code == 403

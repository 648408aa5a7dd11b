"""Exclusions, title history imports, decision exports and statistics over HTTP, on the real
broker and database: what an official records decides the next round, and what was decided is
read back in the documented formats."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from contracts.events.rules import AwardRules, Prerequisite, TitleRule
from services.awards.decision_queries import EXPORT_COLUMNS
from services.devstack.demo_directory import HOSPITAL, SCHOOL, TEACHER
from tests.support.award_rounds import CHAIR, approve, code, proposal, round_of
from tests.support.identity import bearer

pytestmark = pytest.mark.integration

SCHOOL_OFFICIAL = bearer("grassroots_official", unit=SCHOOL, subject="test:school-official")
HOSPITAL_OFFICIAL = bearer("grassroots_official", unit=HOSPITAL, subject="test:bve-official")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

GOOD_WORKER = TitleRule(title="good_worker", subject_kind="member", levels=["grassroots"],
                        min_points=Decimal(20), cash_multiple={"grassroots": Decimal("0.3")})


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_exclusion_recorded_by_an_official_puts_the_member_out_with_its_source(
        system, clients, infrastructure, directory_seeded):
    year = 2024  # a year no other test's round is in
    kind = "administrative_penalty"
    recorded = await clients["awards"].post(
        f"/members/{CHAIR}/exclusions", headers=SCHOOL_OFFICIAL,
        json={"year": year, "kind": kind, "source": "QĐ xử phạt 12/QĐ-XPHC"})
    assert recorded.status_code in (201, 409), recorded.text  # once per session's database
    again = await clients["awards"].post(
        f"/members/{CHAIR}/exclusions", headers=SCHOOL_OFFICIAL,
        json={"year": year, "kind": kind, "source": "QĐ xử phạt 12/QĐ-XPHC"})
    assert (again.status_code, code(again)) == (409, "exclusion_exists")
    elsewhere = await clients["awards"].post(
        f"/members/{CHAIR}/exclusions", headers=HOSPITAL_OFFICIAL,
        json={"year": year, "kind": "disciplined", "source": "x"})
    assert elsewhere.status_code == 404
    unknown = await clients["awards"].post(
        f"/members/{CHAIR}/exclusions", headers=SCHOOL_OFFICIAL,
        json={"year": year, "kind": "late_twice", "source": "x"})
    assert (unknown.status_code, unknown.json()["errors"][0]["field"]) == (422, "kind")
    listed = await clients["awards"].get(f"/members/{CHAIR}/exclusions",
                                         headers=bearer("member", member=CHAIR),
                                         params={"year": year})
    assert kind in [e["kind"] for e in listed.json()["items"]]

    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[GOOD_WORKER], disclosure_days=0), year=year)
    out = await proposal(clients, campaign_id, CHAIR, "grassroots")
    assert (out["status"], out["standing"]) == (
        "excluded", f"excluded: {kind} (source: QĐ xử phạt 12/QĐ-XPHC)")
    refused = await approve(clients, out["proposal_id"], SCHOOL_OFFICIAL)
    assert (refused.status_code, code(refused)) == (409, "proposal_excluded")


async def test_a_bad_import_file_is_refused_line_by_line_and_stores_nothing(clients,
                                                                           directory_seeded):
    member = f"m-none-{uuid.uuid4().hex[:6]}"
    bad = ("member_id,year,kind,source\n"
           f"{CHAIR},2030,absent_40_days,chấm công\n"
           f"{CHAIR},20x0,absent_40_days,chấm công\n"
           f"{CHAIR},2031,sleeping,\n")
    answer = await clients["awards"].post("/exclusions/imports", content=bad.encode(),
                                          headers=SCHOOL_OFFICIAL | {"Content-Type": "text/csv"})
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [
        "rows[3].year", "rows[4].source", "rows[4].kind"]
    listed = await clients["awards"].get(f"/members/{CHAIR}/exclusions", params={"year": 2030})
    assert listed.json()["items"] == []
    stranger = await clients["awards"].post(
        "/exclusions/imports", content=f"member_id,year,kind,source\n{member},2030,"
        "disciplined,x\n".encode(), headers=SCHOOL_OFFICIAL | {"Content-Type": "text/csv"})
    assert (stranger.status_code, stranger.json()["errors"][0]["field"]) == (
        404, "rows[2].member_id")
    garbage = await clients["awards"].post("/exclusions/imports", content=b"PK\x03\x04junk",
                                           headers=SCHOOL_OFFICIAL | {"Content-Type": XLSX})
    assert (garbage.status_code, garbage.json()["errors"][0]["code"]) == (422, "file_unreadable")


async def test_imported_history_from_xlsx_meets_a_consecutive_year_prerequisite(
        system, clients, infrastructure, directory_seeded):
    title = "grassroots_emulation_fighter"
    rows = [["subject_kind", "subject_id", "title", "level", "year", "decision_number",
             "issuer_name", "unit_id"]]
    rows += [["member", TEACHER, title, "grassroots", y, f"{y - 2000}/QĐ-CĐ",
              "Công đoàn Trường THCS Láng Thượng", SCHOOL] for y in (2023, 2024)]
    answer = await clients["awards"].post("/title-history/imports", content=xlsx(rows),
                                          headers=SCHOOL_OFFICIAL | {"Content-Type": XLSX})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == 2
    fighter = TitleRule(title=title, subject_kind="member", levels=["grassroots"],
                        min_points=Decimal(20))
    provincial = TitleRule(title="provincial_emulation_fighter", subject_kind="member",
                           levels=["city"], requires=[Prerequisite(
                               title=title, level="grassroots", consecutive_years=3)])
    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[fighter, provincial], disclosure_days=0))
    found = await clients["awards"].get("/proposals", params={
        "campaign_id": campaign_id, "title": "provincial_emulation_fighter"})
    assert [p["subject_id"] for p in found.json()["items"]] == [TEACHER]


async def test_decisions_export_as_csv_and_xlsx_and_count_in_the_statistics(
        system, clients, infrastructure, directory_seeded):
    campaign_id = await round_of(system, infrastructure,
                                 AwardRules(titles=[GOOD_WORKER], disclosure_days=0))
    target = await proposal(clients, campaign_id, TEACHER, "grassroots")
    approved = await approve(clients, target["proposal_id"], SCHOOL_OFFICIAL)
    assert approved.status_code == 201, approved.text
    award_id = approved.json()["award_id"]

    as_csv = await clients["awards"].get("/decisions/export",
                                         params={"year": 2025, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert list(table[0]) == list(EXPORT_COLUMNS)
    [mine] = [r for r in table if r["award_id"] == award_id]
    assert (mine["subject_id"], mine["title"], mine["cash_amount_vnd"]) == (
        TEACHER, "good_worker", "702000")
    as_xlsx = await clients["awards"].get("/decisions/export",
                                          params={"year": 2025, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).worksheets[0]
    read = list(sheet.iter_rows(values_only=True))
    assert read[0] == EXPORT_COLUMNS
    assert any(award_id in row for row in read[1:])
    elsewhere = await clients["awards"].get("/decisions/export", headers=HOSPITAL_OFFICIAL,
                                            params={"year": 2025})
    assert award_id not in elsewhere.text

    decision = await clients["awards"].get(f"/decisions/{approved.json()['decision_id']}",
                                           headers=SCHOOL_OFFICIAL)
    assert [r["award_id"] for r in decision.json()["recipients"]] == [award_id]
    hidden = await clients["awards"].get(f"/decisions/{approved.json()['decision_id']}",
                                         headers=HOSPITAL_OFFICIAL)
    assert hidden.status_code == 404

    stats = (await clients["awards"].get("/statistics/awards", headers=SCHOOL_OFFICIAL,
                                         params={"year": 2025})).json()
    assert any(a["title"] == "good_worker" and a["level"] == "grassroots" and a["awards"] >= 1
               for a in stats["awards"])
    step = next(s for s in stats["pyramid"] if (s["title"], s["level"]) == (
        "good_worker", "grassroots"))
    assert step["approved"] >= 1 and step["within_quota"] >= step["approved"]
    none = (await clients["awards"].get("/statistics/awards", headers=HOSPITAL_OFFICIAL,
                                        params={"year": 2025})).json()
    assert none["awards"] == []

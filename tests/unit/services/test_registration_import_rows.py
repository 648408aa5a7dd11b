"""Rows of an import file, without a database: CSV and .xlsx read a row at a time with the
spreadsheet's row numbers, headers checked by name, cells converted and each row checked with
the single commands' rules; and the export writer's files read back by openpyxl and csv."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from services.registration import exports
from services.registration.import_files import (
    FileProblem,
    detect_format,
    estimate_rows,
    read_rows,
)
from services.registration.import_rows import column_positions, row_checker

HEADER = "member_id,unit_id,full_name,gender,direct_worker,union_officer,job_title,effective_from"


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode(encoding))
    return path


def checked(path: Path, kind: str = "members", fmt: str = "csv") -> list:
    sheet = read_rows(path, fmt)
    check = row_checker(kind, column_positions(kind, sheet.header))
    return [(n, check(n, cells)) for n, cells in sheet.rows]


def test_rows_are_numbered_as_in_the_spreadsheet_and_blank_rows_skipped(tmp_path):
    path = write(tmp_path, f"{HEADER}\r\nm-1,u-1,Lê Thị Hoa,nữ,x,,giáo viên,01/09/2020\r\n"
                           ",,,,,,,\r\n"
                           "m-2,u-1,  Trần Văn Nam ,Nam,không,có,,2020-09-01\r\n")
    rows = checked(path)
    assert [n for n, _ in rows] == [2, 3, 4]
    assert rows[0][1] == (2, "m-1", "u-1", "Lê Thị Hoa", "female", True, False, "giáo viên",
                          date(2020, 9, 1))
    assert rows[1][1] is None
    assert rows[2][1] == (4, "m-2", "u-1", "Trần Văn Nam", "male", False, True, None,
                          date(2020, 9, 1))
    assert estimate_rows(path, "csv") == 3


@pytest.mark.parametrize(("cells", "column", "code"), [
    ("m 1,u-1,A,nữ,,,,2020-01-01", "member_id", "string_pattern_mismatch"),
    ("m-1,u-1,A,robot,,,,2020-01-01", "gender", "literal_error"),
    ("m-1,u-1,A,nữ,2,,,2020-01-01", "direct_worker", "not_a_flag"),
    ("m-1,u-1,A,nữ,,,,30/02/2020", "effective_from", "date_invalid"),
    ("m-1,u-1,A,nữ,,,,2020-1-1", "effective_from", "date_invalid"),
    ("m-1,u-1,A,nữ,,,,1899-12-31", "effective_from", "value_error"),
    ("m-1,u-1,,nữ,,,,2020-01-01", "full_name", "missing"),
    (f"m-1,u-1,{'A' * 301},nữ,,,,2020-01-01", "full_name", "string_too_long"),
    ("m-1,u-1,A\x00B,nữ,,,,2020-01-01", "full_name", "nul_character"),
])
def test_a_bad_cell_is_reported_with_its_column_and_code(tmp_path, cells, column, code):
    [(_, errors)] = checked(write(tmp_path, f"{HEADER}\n{cells}\n"))
    assert [(e.row, e.column, e.code) for e in errors] == [(2, column, code)]


def test_unit_rows_keep_the_commands_rules(tmp_path):
    header = "unit_id,name,kind,parent_id,effective_from,district_id,member_count,direct_worker_count"
    path = write(tmp_path, f"{header}\nu-1,Công đoàn A,grassroots_union,u-0,2020-01-01,,10,12\n"
                           "u-2,Công đoàn B,grassroots_union,,2020-01-01,u-d,1.5,0\n"
                           "u-3,Công đoàn C,ward,u-0,2020-01-01,,,\n"
                           "u-4,Công đoàn D,grassroots_union,u-0,2020-01-01,,7,\n")
    rows = checked(path, "units")
    assert [e.code for e in rows[0][1]] == ["direct_workers_exceed_members"]
    assert [(e.column, e.code) for e in rows[1][1]] == [("member_count", "not_a_count")]
    assert [(e.column, e.code) for e in rows[2][1]] == [("kind", "literal_error")]
    # An absent district is the parent's (resolved by the database); the sector's default holds.
    assert rows[3][1] == (5, "u-4", "Công đoàn D", "grassroots_union", "u-0", None, False,
                          "other", 7, 0, date(2020, 1, 1))


# Rows at the edges of each rule: the plain checks accept exactly what the commands' models
# accept, with the same values, and leave every other row to the model's report.
_EDGE_MEMBERS = [
    "m-1,u-1,A,nữ,,,,2020-01-01", f"m-1,u-1,{'Ơ' * 300},nam,x,x,{'b' * 300},1900-01-01",
    f"m-1,u-1,{'Ơ' * 301},nam,,,,2020-01-01", f"m-1,u-1,A,nam,,,{'b' * 301},2020-01-01",
    f"{'m' * 64},u-1,A,khác,,,,2100-12-31", f"{'m' * 65},u-1,A,other,,,,2020-01-01",
    "-m,u-1,A,nữ,,,,2020-01-01", "m-1,u/1,A,nữ,,,,2020-01-01", "m-1,ư-1,A,nữ,,,,2020-01-01",
    "m-1,u-1,A,nữ,,,,2101-01-01", "m-1,u-1,A,nữ,,,,2020-02-30", "m-1,u-1,A,nữ,,,,29/02/2024",
    "m-1,u-1,A,Female,,,,2020-01-01", "m-1,u-1,A,,,,,2020-01-01", ",u-1,A,nữ,,,,2020-01-01",
    "m-1,u-1,A,nữ,,,,", "m-1,,,nữ,,,,2020-01-01", "m.1:x_y,u-1,A B,nữ,,,,2020-01-01",
    " m-2 , u-1 , Trần Văn Bình ,NAM,Có,KHÔNG, kỹ sư ,2020-01-01", "m-1,u-1,A,nữ,maybe,,,2020-01-01",
    "m-1,u-1,A\x00B,nữ,,,,2020-01-01", "m-1,u-1,A,nữ,,,b\x00,2020-01-01", "m-1,u-1,A,nữ",
    "m-1,u-1,A,nữ,1,0,,2020-01-01,extra", "m-1,u-1,A,nữ,y,n,,01/03/2021", ",,,,,,,",
]
_UNIT_HEADER = ("unit_id,name,kind,parent_id,effective_from,district_id,sector,member_count,"
                "direct_worker_count")
_EDGE_UNITS = [
    "u-1,A,grassroots_union,u-0,2020-01-01,,,,", "u-1,A,grassroots_union,,2020-01-01,d-1,health,0,0",
    "u-1,A,ward,u-0,2020-01-01,,,,", "u-1,A,grassroots_union,u 0,2020-01-01,,,,",
    "u-1,A,grassroots_union,u-0,2020-01-01,đ-1,,,", "u-1,A,grassroots_union,u-0,2020-01-01,,farm,,",
    "u-1,A,grassroots_union,u-0,2020-01-01,,,10000000,10000000",
    "u-1,A,grassroots_union,u-0,2020-01-01,,,10000001,0",
    "u-1,A,grassroots_union,u-0,2020-01-01,,,5,6", "u-1,,grassroots_union,u-0,2020-01-01,,,,",
    f"u-1,{'A' * 301},city_federation,,2020-01-01,,,,", "u-1,A,confederation,,1899-12-31,,,,",
]


@pytest.mark.parametrize(("kind", "header", "lines"), [("members", HEADER, _EDGE_MEMBERS),
                                                       ("units", _UNIT_HEADER, _EDGE_UNITS)])
def test_plain_checks_agree_with_the_commands_models(tmp_path, monkeypatch, kind, header, lines):
    from services.registration import import_rows, import_sure_rows

    path = write(tmp_path, header + "\n" + "\n".join(lines) + "\n")
    plain = checked(path, kind)
    # A members file with every column is read a row at a time first (`_members_at_once`),
    # which takes the rows that surely pass and leaves the others to the cell-by-cell check.
    if kind == "members":
        sheet = read_rows(path, "csv")
        at_once = import_rows._members_at_once(column_positions(kind, sheet.header))
        taken = [n for n, cells in sheet.rows if at_once(n, cells) is not None]
        assert taken and len(taken) < len([r for _, r in plain if r.__class__ is tuple])
    monkeypatch.setattr(import_rows, "_members_at_once", lambda positions: None)
    assert checked(path, kind) == plain
    monkeypatch.setattr(import_sure_rows, "members_surely", lambda days, known: lambda f: None)
    monkeypatch.setattr(import_sure_rows, "units_surely", lambda days, known: lambda f: None)
    by_model = checked(path, kind)
    assert plain == by_model
    accepted = [row for _, row in plain if row.__class__ is tuple]
    assert 0 < len(accepted) < len(lines)


def test_headers_are_matched_by_name_and_every_fault_named(tmp_path):
    sheet = read_rows(write(tmp_path, "MEMBER_ID , unit_id, Ghi chú,unit_id\n"), "csv")
    with pytest.raises(FileProblem) as refused:
        column_positions("members", sheet.header)
    sheet.close()
    assert {(e.column, e.code) for e in refused.value.errors} == {
        ("ghi chú", "column_unknown"), ("unit_id", "column_repeated"),
        ("full_name", "column_missing"), ("gender", "column_missing"),
        ("effective_from", "column_missing")}


@pytest.mark.parametrize(("content", "code"), [
    (b"", "file_empty"), (b"\xef\xbb\xbf \r\n", "file_empty"),
    (HEADER.encode() + b"\nm-1,u-1,L\xea,n\xc6,,,,2020-01-01\n", "not_utf8"),
    (HEADER.encode() + b'\nm-1,u-1,"' + b"A" * 5000 + b'",nam,,,,2020-01-01\n', "csv_malformed"),
])
def test_a_file_that_cannot_be_read_is_refused_whole(tmp_path, content, code):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(FileProblem) as refused:
        checked(path)
    assert [e.code for e in refused.value.errors] == [code]


def test_semicolons_and_a_byte_order_mark_are_understood(tmp_path):
    path = write(tmp_path, "\ufeff" + HEADER.replace(",", ";") +
                 "\nm-1;u-1;Hồ Thị Mai;nữ;;;;2020-01-01\n")
    assert checked(path)[0][1][1] == "m-1"


def test_xlsx_cells_of_every_type_read_as_typed(tmp_path):
    book = Workbook()
    book.active.append(HEADER.split(","))
    book.active.append(["m-1", "u-1", "Vũ Văn Hải", "nam", True, 0, None, datetime(2021, 3, 8)])
    book.active.append([None] * 8)
    book.active.append(["m-2", "u-1", "Vũ Thị Lan", "nữ", "x", 1.0, "kế toán", "08/03/2021"])
    path = tmp_path / "f.xlsx"
    book.save(path)
    assert detect_format(path.read_bytes()[:8], "text/csv") == "xlsx"
    rows = checked(path, fmt="xlsx")
    assert [n for n, _ in rows] == [2, 3, 4]
    assert rows[0][1][5:] == (True, False, None, date(2021, 3, 8))
    assert rows[2][1][5:] == (True, True, "kế toán", date(2021, 3, 8))
    assert estimate_rows(path, "xlsx") == 3


async def _rows(values):
    for row in values:
        yield row
        await asyncio.sleep(0)


async def _download(fmt: str, rows: list) -> bytes:
    response = exports.tabular_response(_rows(rows), ("a", "b", "c", "d"), fmt, "list")
    return b"".join([chunk async for chunk in response.body_iterator])


async def test_exports_write_csv_and_xlsx_that_read_back():
    rows = [(f"id-{n}", f"Tên <{n}> & \"x\"\x01", n, n % 2 == 0) for n in range(2500)]
    rows.append(("id-x", None, 10**16, date(2025, 7, 1)))
    text = (await _download("csv", rows)).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["a", "b", "c", "d"] and len(table) == 2502
    assert table[1] == ["id-0", 'Tên <0> & "x"\x01', "0", "true"]
    assert table[-1] == ["id-x", "", str(10**16), "2025-07-01"]

    book = load_workbook(io.BytesIO(await _download("xlsx", rows)), read_only=True)
    sheet = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    assert book.sheetnames == ["list"] and len(sheet) == 2502
    assert sheet[1] == ["id-0", 'Tên <0> & "x"', 0, True]  # XML cannot hold \x01
    assert sheet[-1] == ["id-x", None, str(10**16), "2025-07-01"]

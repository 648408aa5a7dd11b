"""Reading officials' contact sheets: every row checked, refusals by row, column and reason."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from services.notify.contact_points import CSV, XLSX, SheetError, check_sheet


def csv(text: str) -> bytes:
    return text.encode()


def test_good_rows_are_kept_with_the_domain_lower_cased():
    checked = check_sheet(CSV, csv("member_id,email,phone\nm-1,Lan@Example.VN,0912 345 678\n"
                                   "m-2,,+84 24 3851 1234\n"), 100)
    assert checked.rows == 2 and checked.refused == []
    assert checked.contacts == {"m-1": (2, "Lan@example.vn", "0912 345 678"),
                                "m-2": (3, None, "+84 24 3851 1234")}


def test_vietnamese_headers_in_any_case_and_order_are_understood():
    checked = check_sheet(CSV, csv("Số điện thoại, MÃ ĐOÀN VIÊN ,Thư điện tử\n"
                                   "0912345678,m-1,a@b.vn\n"), 100)
    assert checked.contacts == {"m-1": (2, "a@b.vn", "0912345678")}


@pytest.mark.parametrize(("row", "column", "reason"), [
    ("m-1,not-an-address,", "email", "not an e-mail address (name@domain.tld)"),
    ("m-1,,call me", "phone", "not a phone number (+, digits, spaces, dots, dashes; 6 to 20)"),
    (",a@b.vn,", "member_id", "missing or not a member id"),
    ("m 1,a@b.vn,", "member_id", "missing or not a member id"),
    ("m-1,,", "email", "neither an e-mail nor a phone"),
    ("m-1," + "a" * 250 + "@b.vn,", "email", "not an e-mail address (name@domain.tld)"),
])
def test_each_bad_cell_is_reported_by_row_column_and_reason(row, column, reason):
    checked = check_sheet(CSV, csv(f"member_id,email,phone\n{row}\n"), 100)
    assert [(r.row, r.column, r.reason) for r in checked.refused] == [(2, column, reason)]
    assert checked.contacts == {}


def test_a_repeated_member_is_refused_pointing_at_the_first_row_and_blank_rows_skipped():
    checked = check_sheet(CSV, csv("member_id,email\nm-1,a@b.vn\n,\n\nm-1,c@d.vn\n"), 100)
    assert [(r.row, r.reason) for r in checked.refused] == [(5, "the same member as row 2")]
    assert checked.rows == 2


@pytest.mark.parametrize(("content_type", "body", "reason"), [
    (CSV, b"", "the sheet is empty: a header row is needed"),
    (CSV, b"email\na@b.vn\n", "no member_id column in the header row"),
    (CSV, b"member_id,name\nm-1,x\n", "no email or phone column in the header row"),
    (CSV, b"member_id,email\n\xff\n", "the CSV is not UTF-8"),
    (XLSX, b"not a zip", "not a readable .xlsx workbook"),
    ("application/json", b"{}", "send text/csv or " + XLSX),
])
def test_a_sheet_that_cannot_be_read_is_refused_whole(content_type, body, reason):
    with pytest.raises(SheetError, match="^" + reason.replace(".", r"\.").replace("+", r"\+")):
        check_sheet(content_type, body, 100)


def test_more_rows_than_allowed_is_refused():
    body = "member_id,email\n" + "".join(f"m-{i},m{i}@b.vn\n" for i in range(11))
    with pytest.raises(SheetError, match="more than 10 rows"):
        check_sheet(CSV, body.encode(), 10)


def test_an_xlsx_sheet_reports_a_phone_stored_as_a_number():
    book = Workbook()
    book.active.append(["member_id", "email", "phone"])
    book.active.append(["m-1", "a@b.vn", 912345678])
    book.active.append(["m-2", None, "0912345678"])
    buffer = io.BytesIO()
    book.save(buffer)
    checked = check_sheet(XLSX, buffer.getvalue(), 100)
    assert [(r.row, r.column) for r in checked.refused] == [(2, "phone")]
    assert checked.contacts == {"m-2": (3, None, "0912345678")}

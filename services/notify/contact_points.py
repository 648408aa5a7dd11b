"""Contact points, free of I/O: what a valid e-mail address and phone number are, and reading an
officials' import sheet (CSV or .xlsx) into rows checked one by one.

A sheet has a header row naming its columns (`member_id`, `email`, `phone`, or the Vietnamese
`mã đoàn viên`, `thư điện tử`, `số điện thoại`; case and spacing ignored) and one member a row.
An empty cell leaves what is kept as it is. Each refused cell is reported with its row (as a
spreadsheet numbers it, the header being row 1), its column and why; the sheet is never read
whole into memory (CSV is decoded line by line, .xlsx read in openpyxl's read-only mode).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
PHONE_PATTERN = r"^\+?[0-9][0-9 .-]{5,19}$"
_PHONE = re.compile(PHONE_PATTERN)
_MEMBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"

COLUMNS = {
    "member_id": "member_id", "mã đoàn viên": "member_id", "ma doan vien": "member_id",
    "email": "email", "e-mail": "email", "thư điện tử": "email",
    "phone": "phone", "số điện thoại": "phone", "điện thoại": "phone",
}


def valid_email(value: str) -> str:
    """The address with its domain lower-cased; ValueError if it is not one."""
    local, _, domain = value.rpartition("@")
    if (len(value) > 254 or not _EMAIL.match(value) or len(local) > 64 or ".." in local
            or local.startswith(".") or local.endswith(".")):
        raise ValueError("not an e-mail address (name@domain.tld)")
    return f"{local}@{domain.lower()}"


def valid_phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("not a phone number (+, digits, spaces, dots, dashes; 6 to 20)")
    return value


class SheetError(ValueError):
    """The sheet as a whole cannot be read (not CSV or .xlsx, no usable header)."""


@dataclass(frozen=True)
class Refusal:
    row: int
    column: str
    reason: str


@dataclass
class Checked:
    rows: int = 0
    # member id → (row, email or None, phone or None): None leaves what is kept
    contacts: dict[str, tuple[int, str | None, str | None]] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)


def _cells(content_type: str, body: bytes) -> Iterator[list[object]]:
    if content_type == XLSX:
        from openpyxl import load_workbook  # only officials' imports need it

        try:
            book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise SheetError("not a readable .xlsx workbook") from exc
        try:
            for values in book.worksheets[0].iter_rows(values_only=True):
                yield list(values)
        finally:
            book.close()
        return
    if content_type != CSV:
        raise SheetError(f"send {CSV} or {XLSX}")
    lines = codecs.iterdecode(io.BytesIO(body), "utf-8-sig")
    try:
        yield from csv.reader(lines)
    except UnicodeDecodeError as exc:
        raise SheetError("the CSV is not UTF-8") from exc
    except csv.Error as exc:
        raise SheetError(f"not a readable CSV: {exc}") from exc


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def check_sheet(content_type: str, body: bytes, max_rows: int) -> Checked:
    """Every row checked; raises `SheetError` when the sheet cannot be read at all."""
    rows = _cells(content_type, body)
    header = next(rows, None)
    if header is None:
        raise SheetError("the sheet is empty: a header row is needed")
    positions: dict[str, int] = {}
    for i, name in enumerate(header):
        column = COLUMNS.get(" ".join(_text(name).lower().split()))
        if column and column not in positions:
            positions[column] = i
    if "member_id" not in positions:
        raise SheetError("no member_id column in the header row")
    if not ({"email", "phone"} & positions.keys()):
        raise SheetError("no email or phone column in the header row")
    checked = Checked()
    for number, values in enumerate(rows, start=2):
        if not any(_text(v) for v in values):
            continue  # blank lines are not members
        checked.rows += 1
        if checked.rows > max_rows:
            raise SheetError(f"more than {max_rows} rows: split the sheet")
        _check_row(checked, number, values, positions)
    return checked


def _check_row(checked: Checked, number: int, values: list[object],
               positions: dict[str, int]) -> None:
    def cell(column: str) -> object:
        i = positions.get(column)
        return values[i] if i is not None and i < len(values) else None

    refused = len(checked.refused)
    member_id = _text(cell("member_id"))
    if not _MEMBER_ID.match(member_id):
        checked.refused.append(Refusal(number, "member_id", "missing or not a member id"))
    elif member_id in checked.contacts:
        first = checked.contacts[member_id][0]
        checked.refused.append(Refusal(number, "member_id", f"the same member as row {first}"))
    email = phone = None
    raw_phone = cell("phone")
    if isinstance(raw_phone, int | float):
        checked.refused.append(Refusal(number, "phone", "stored as a number, which drops the "
                                                         "leading 0: format the column as text"))
    elif _text(raw_phone):
        try:
            phone = valid_phone(_text(raw_phone))
        except ValueError as exc:
            checked.refused.append(Refusal(number, "phone", str(exc)))
    if _text(cell("email")):
        try:
            email = valid_email(_text(cell("email")))
        except ValueError as exc:
            checked.refused.append(Refusal(number, "email", str(exc)))
    if len(checked.refused) == refused:
        if email is None and phone is None:
            checked.refused.append(Refusal(number, "email", "neither an e-mail nor a phone"))
        else:
            checked.contacts[member_id] = (number, email, phone)

"""Rows of an imported file, free of database I/O: the columns of a units or members file, the
CSV and .xlsx readers (streaming: one row in memory at a time), and each row checked with the
rules of the single commands (`org_domain.RegisterUnit` / `RegisterMember`).

A row number is the spreadsheet's: the header is row 1, the first data row row 2, so an error
report points at the row a person sees in Excel. Blank rows are skipped but keep their number.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from . import org_domain as domain

Kind = Literal["units", "members"]
Format = Literal["csv", "xlsx"]

# A cell longer than this is no name or id a person typed; the csv module refuses it, and the
# file with it (a larger field means a broken quote, after which no row can be trusted).
MAX_CELL_CHARS = 4096
XLSX_MAGIC = b"PK\x03\x04"
_CSV_READ_BYTES = 1 << 20
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_VN_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_WHOLE = re.compile(r"[+]?[0-9]{1,9}")
_TRUE = frozenset({"true", "1", "x", "yes", "y", "có", "co", "c"})
_FALSE = frozenset({"false", "0", "no", "n", "không", "khong", "k"})
_GENDERS = {"female": "female", "nữ": "female", "nu": "female", "male": "male", "nam": "male",
            "other": "other", "khác": "other", "khac": "other"}


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row (or, with `column`, one cell) cannot be imported."""

    row: int
    column: str | None
    code: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code,
                "reason": self.reason}


class FileProblem(Exception):
    """The file as a whole cannot be read: a bad header, not UTF-8, not a workbook, empty.
    `errors` name the row (1 for the header) and column."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(e.reason for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    kind: Literal["text", "count", "flag", "date", "gender"]
    description: str


UNIT_COLUMNS: tuple[Column, ...] = (
    Column("unit_id", True, "text", "Id of the unit (letters, digits, `._:-`), e.g. `u-dongda-0001`."),
    Column("name", True, "text", "Official name, e.g. `Công đoàn Trường THCS Nghĩa Tân`."),
    Column("kind", True, "text", "`city_federation`, `district_federation`, `sector_union`, "
                                 "`upper_level_union`, `grassroots_union`, `confederation`."),
    Column("parent_id", False, "text", "Parent unit: registered already, or a row of the same "
                                       "file. Empty only for a root (city administrators)."),
    Column("effective_from", True, "date", "Founding date, `YYYY-MM-DD` or `DD/MM/YYYY`."),
    Column("district_id", False, "text", "District or ward unit; the parent's when empty."),
    Column("sector", False, "text", "`enterprise`, `administration`, `education`, `health`, "
                                    "`other` (the default)."),
    Column("member_count", False, "count", "Union members (0 when empty)."),
    Column("direct_worker_count", False, "count", "Direct-production workers among them "
                                                  "(0 when empty; at most `member_count`)."),
)
MEMBER_COLUMNS: tuple[Column, ...] = (
    Column("member_id", True, "text", "Id of the member, e.g. `m-lt-0007`."),
    Column("unit_id", True, "text", "The member's grassroots unit (registered already)."),
    Column("full_name", True, "text", "Full name as it appears on awards."),
    Column("gender", True, "gender", "`female`/`nữ`, `male`/`nam`, `other`/`khác`."),
    Column("direct_worker", False, "flag", "Direct-production worker: `true`/`x`/`có`/`1`, "
                                           "else `false`/`không`/`0`/empty."),
    Column("union_officer", False, "flag", "Union officer (same values)."),
    Column("job_title", False, "text", "Position or trade, e.g. `giáo viên`."),
    Column("effective_from", True, "date", "Date the member joined, `YYYY-MM-DD` or "
                                           "`DD/MM/YYYY`."),
)
COLUMNS: dict[Kind, tuple[Column, ...]] = {"units": UNIT_COLUMNS, "members": MEMBER_COLUMNS}
COMMANDS: dict[Kind, type[BaseModel]] = {"units": domain.RegisterUnit,
                                         "members": domain.RegisterMember}
# The staging table's columns, in COPY order, after the row number.
STAGED: dict[Kind, tuple[str, ...]] = {
    "units": ("unit_id", "name", "kind", "parent_id", "district_id", "district_given", "sector",
              "member_count", "direct_worker_count", "effective_from"),
    "members": ("member_id", "unit_id", "full_name", "gender", "direct_worker", "union_officer",
                "job_title", "effective_from"),
}


def detect_format(first_bytes: bytes, content_type: str | None) -> Format:
    """xlsx by its zip signature (whatever the content type claims), CSV otherwise."""
    return "xlsx" if first_bytes.startswith(XLSX_MAGIC) else "csv"


# --- readers ------------------------------------------------------------------------------------

@dataclass
class Sheet:
    """An open file: its header as written, its data rows as (row number, cells), and how to
    let go of the file when the rows are not read to the end."""

    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    close: Callable[[], None]


def read_rows(path: Path, fmt: Format) -> Sheet:
    return _read_xlsx(path) if fmt == "xlsx" else _read_csv(path)


def estimate_rows(path: Path, fmt: Format) -> int | None:
    """Data rows the file seems to hold, for progress before it has been read: CSV line breaks
    (a quoted line break counts too), or the sheet's recorded dimension."""
    if fmt == "xlsx":
        try:
            workbook, close = _open_workbook(path)
            try:
                rows = workbook.worksheets[0].max_row
            finally:
                close()
        except FileProblem:
            return None
        return None if rows is None else max(rows - 1, 0)
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(_CSV_READ_BYTES):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def _read_csv(path: Path) -> Sheet:
    raw = path.open("rb")
    head = raw.read(4096)
    raw.seek(0)
    if not head.strip(codecs.BOM_UTF8 + b" \r\n\t"):
        raw.close()
        raise FileProblem([RowError(1, None, "file_empty", "the file is empty")])
    first_line = head.split(b"\n", 1)[0]
    # Excel writes `;` where the decimal mark is a comma; the header says which it used.
    delimiter = ";" if first_line.count(b";") > first_line.count(b",") else ","
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    state = {"row": 0}

    def rows() -> Iterator[list[str]]:
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                state["row"] += 1
                yield cells
        except UnicodeDecodeError as exc:
            raise FileProblem([RowError(state["row"] + 1, None, "not_utf8",
                                        f"not UTF-8 text at or after this row ({exc.reason}): "
                                        "save the file as “CSV UTF-8”")]) from None
        except csv.Error as exc:
            raise FileProblem([RowError(state["row"] + 1, None, "csv_malformed",
                                        f"not readable as CSV: {exc}")]) from None
        finally:
            text.close()

    source = rows()
    previous = csv.field_size_limit(MAX_CELL_CHARS)
    try:
        header = next(source, None)
    finally:
        csv.field_size_limit(previous)
    if header is None:
        text.close()
        raise FileProblem([RowError(1, None, "file_empty", "the file is empty")])

    def data() -> Iterator[tuple[int, list[Any]]]:
        limit = csv.field_size_limit(MAX_CELL_CHARS)
        try:
            for cells in source:
                yield state["row"], cells
        finally:
            csv.field_size_limit(limit)

    return Sheet(header, data(), text.close)


def _open_workbook(path: Path):
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    handle = path.open("rb")  # a file, not a name: openpyxl would judge a name by its suffix
    try:
        workbook = load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        handle.close()
        raise FileProblem([RowError(1, None, "xlsx_unreadable",
                                    f"not an .xlsx workbook Excel can open ({exc})")]) from None

    def close() -> None:
        workbook.close()
        handle.close()

    return workbook, close


def _read_xlsx(path: Path) -> Sheet:
    workbook, close = _open_workbook(path)
    if not workbook.worksheets:
        close()
        raise FileProblem([RowError(1, None, "file_empty", "the workbook has no sheet")])
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        close()
        raise FileProblem([RowError(1, None, "file_empty", "the first sheet is empty")])

    def data() -> Iterator[tuple[int, list[Any]]]:
        try:
            for number, cells in enumerate(rows, start=2):
                yield number, list(cells)
        finally:
            close()

    return Sheet([_cell_text(c) or "" for c in header], data(), close)


# --- header and cells ---------------------------------------------------------------------------

def column_positions(kind: Kind, header: list[str]) -> list[tuple[int, Column]]:
    """Where each known column stands; unknown, repeated or missing required columns refuse the
    file (a misspelt optional column would otherwise be dropped without a word)."""
    known = {c.name: c for c in COLUMNS[kind]}
    errors, seen, positions = [], set(), []
    for index, title in enumerate(header):
        name = (title or "").strip().lstrip("\ufeff").strip().lower()
        if not name:
            continue
        column = known.get(name)
        if column is None:
            errors.append(RowError(1, name[:100], "column_unknown",
                                   f"unknown column {name[:100]!r}; the columns of a {kind} file "
                                   f"are {', '.join(known)}"))
        elif name in seen:
            errors.append(RowError(1, name, "column_repeated", f"column {name!r} appears twice"))
        else:
            seen.add(name)
            positions.append((index, column))
    errors += [RowError(1, c.name, "column_missing", f"required column {c.name!r} is missing")
               for c in COLUMNS[kind] if c.required and c.name not in seen]
    if errors:
        raise FileProblem(errors)
    return positions


def _cell_text(value: Any) -> str | None:
    """An xlsx or CSV cell as the text a person typed (None when blank)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _CellInvalid(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def _count(text: str) -> int:
    if not _WHOLE.fullmatch(text):
        raise _CellInvalid("not_a_count", f"{text[:40]!r} is not a whole number ≥ 0")
    return int(text)


def _flag(text: str) -> bool:
    folded = text.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise _CellInvalid("not_a_flag", f"{text[:40]!r} is neither true (x, có, 1) nor false "
                                     "(không, 0, empty)")


def _gender(text: str) -> str:
    return _GENDERS.get(text.lower(), text)


def _date(text: str) -> str:
    """ISO text as the commands take it; the command's own rule then checks the day."""
    if _ISO_DATE.fullmatch(text):
        return text
    if match := _VN_DATE.fullmatch(text):
        day, month, year = (int(part) for part in match.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            raise _CellInvalid("date_invalid", f"{text!r} is no calendar day") from None
    raise _CellInvalid("date_invalid", f"{text[:40]!r} is not a date YYYY-MM-DD or DD/MM/YYYY")


_CONVERTERS: dict[str, Callable[[str], Any] | None] = {
    "text": None, "count": _count, "flag": _flag, "date": _date, "gender": _gender}


def row_checker(kind: Kind, positions: list[tuple[int, Column]]
                ) -> Callable[[int, list[Any]], tuple | list[RowError] | None]:
    """A function from (row number, cells) to the staged tuple (row number first), the row's
    errors, or None for a blank row."""
    validate = COMMANDS[kind].model_validate
    staged = STAGED[kind]
    units = kind == "units"
    cells_of = [(index, column.name, _CONVERTERS[column.kind]) for index, column in positions]

    def check(number: int, cells: list[Any]) -> tuple | list[RowError] | None:
        fields: dict[str, Any] = {}
        errors: list[RowError] = []
        width = len(cells)
        for index, name, convert in cells_of:
            if index >= width:
                continue
            text = cells[index]
            text = text.strip() if text.__class__ is str else _cell_text(text)
            if not text:
                continue
            if "\x00" in text:
                errors.append(RowError(number, name, "nul_character",
                                       "NUL characters are not allowed"))
                continue
            if convert is None:
                fields[name] = text
                continue
            try:
                fields[name] = convert(text)
            except _CellInvalid as exc:
                errors.append(RowError(number, name, exc.code, str(exc)))
        if errors:
            return errors
        if not fields:
            return None if not any(_cell_text(c) for c in cells) else [
                RowError(number, None, "row_without_columns",
                         "the row holds values only in columns without a header")]
        if units:
            district_given = "district_id" in fields
            fields.setdefault("parent_id", None)
        try:
            valid = validate(fields)
        except ValidationError as exc:
            return [_row_error(number, e) for e in exc.errors(include_url=False)]
        values = valid.__dict__
        if units:
            if valid.direct_worker_count > valid.member_count:
                return [RowError(number, "direct_worker_count", "direct_workers_exceed_members",
                                 "direct_worker_count cannot exceed member_count")]
            values = values | {"district_given": district_given}
        return (number, *[values[name] for name in staged])

    return check


def _row_error(number: int, error: dict[str, Any]) -> RowError:
    loc = error.get("loc") or ()
    column = str(loc[0]) if loc else None
    reason = error["msg"]
    if error["type"] == "missing":
        reason = "required: the cell is empty"
    elif error["type"] == "string_pattern_mismatch":
        reason = "letters, digits and ._:- only, starting with a letter or digit, at most 64"
    return RowError(number, column, error["type"], reason)

"""Rows of an imported file checked, free of database I/O: the columns of a units or members
file, each cell read as the commands take it (Vietnamese flags, genders and dates), and each row
checked with the rules of the single commands (`org_domain.RegisterUnit` / `RegisterMember`).
The files themselves are read by `import_files.py`.

A row number is the spreadsheet's: the header is row 1, the first data row row 2, so an error
report points at the row a person sees in Excel. Blank rows are skipped but keep their number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from . import import_sure_rows as sure_rows
from . import org_domain as domain
from .import_files import FileProblem, RowError, cell_text
from .import_sure_rows import ISO_DATE

Kind = Literal["units", "members"]

_VN_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_WHOLE = re.compile(r"[+]?[0-9]{1,9}")
_TRUE = frozenset({"true", "1", "x", "yes", "y", "có", "co", "c"})
_FALSE = frozenset({"false", "0", "no", "n", "không", "khong", "k"})
_GENDERS = {"female": "female", "nữ": "female", "nu": "female", "male": "male", "nam": "male",
            "other": "other", "khác": "other", "khac": "other"}


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
    if ISO_DATE.fullmatch(text):
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


def _members_at_once(positions: list[tuple[int, Column]]
                     ) -> Callable[[int, list[Any]], tuple | None] | None:
    """For a members file with every column: the staged tuple of a row whose cells are all text
    and which surely passes, read in one go (None for any other row, which the cell-by-cell
    check then judges). The same conversions and the same plain check
    (`import_sure_rows.members_surely`) as the cell-by-cell path, without its per-cell loop
    and dictionary: the reading of a million-member file is the import's longest step on the
    importing process's side."""
    at = {column.name: index for index, column in positions}
    if at.keys() != set(STAGED["members"]):
        return None
    cells_of = itemgetter(*(at[name] for name in STAGED["members"]))
    width = max(at.values()) + 1
    days: dict[str, date] = {}
    flags = dict.fromkeys(_TRUE, True) | dict.fromkeys(_FALSE, False)
    ident, name_ok, day_of = sure_rows.is_identifier, sure_rows.is_name, sure_rows.day_of

    def read(number: int, cells: list[Any]) -> tuple | None:
        if len(cells) < width:
            return None
        try:
            member_id, unit_id, name, gender, direct, officer, job, when = (
                cell.strip() for cell in cells_of(cells))
        except AttributeError:  # a cell of a workbook that is not text: cell by cell
            return None
        gender = _GENDERS.get(gender.lower())
        direct = flags.get(direct.lower()) if direct else False
        officer = flags.get(officer.lower()) if officer else False
        if (gender is None or direct is None or officer is None
                or not (ident(member_id) and ident(unit_id) and name_ok(name))
                or "\x00" in name or (job and ("\x00" in job or not name_ok(job)))):
            return None
        day = day_of(when, days)
        if day is None:
            return None
        return (number, member_id, unit_id, name, gender, direct, officer, job or None, day)

    return read


def row_checker(kind: Kind, positions: list[tuple[int, Column]]
                ) -> Callable[[int, list[Any]], tuple | list[RowError] | None]:
    """A function from (row number, cells) to the staged tuple (row number first), the row's
    errors, or None for a blank row."""
    validate = COMMANDS[kind].model_validate
    staged = STAGED[kind]
    units = kind == "units"
    surely = (sure_rows.units_surely if units else sure_rows.members_surely)(
        {}, frozenset(STAGED[kind]))
    cells_of = [(index, column.name, _CONVERTERS[column.kind]) for index, column in positions]
    at_once = None if units else _members_at_once(positions)

    def check(number: int, cells: list[Any]) -> tuple | list[RowError] | None:
        if at_once is not None and (row := at_once(number, cells)) is not None:
            return row
        fields: dict[str, Any] = {}
        errors: list[RowError] = []
        width = len(cells)
        for index, name, convert in cells_of:
            if index >= width:
                continue
            text = cells[index]
            text = text.strip() if text.__class__ is str else cell_text(text)
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
            return None if not any(cell_text(c) for c in cells) else [
                RowError(number, None, "row_without_columns",
                         "the row holds values only in columns without a header")]
        if units:
            district_given = "district_id" in fields
            fields.setdefault("parent_id", None)
        if (values := surely(fields)) is not None:
            if not units:
                return (number, *values)
            if values[7] <= values[6]:
                return (number, *values[:5], district_given, *values[5:])
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

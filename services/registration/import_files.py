"""Imported files as rows, free of database I/O: the CSV and .xlsx readers (streaming: one row
in memory at a time), the estimate of a file's rows for progress, and what a file or a row
that cannot be imported is reported as.

A row number is the spreadsheet's: the header is row 1, the first data row row 2, so an error
report points at the row a person sees in Excel.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

Format = Literal["csv", "xlsx"]

# A cell longer than this is no name or id a person typed; the csv module refuses it, and the
# file with it (a larger field means a broken quote, after which no row can be trusted).
MAX_CELL_CHARS = 4096
XLSX_MAGIC = b"PK\x03\x04"
_CSV_READ_BYTES = 1 << 20


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


def detect_format(first_bytes: bytes, content_type: str | None) -> Format:
    """xlsx by its zip signature (whatever the content type claims), CSV otherwise."""
    return "xlsx" if first_bytes.startswith(XLSX_MAGIC) else "csv"


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

    return Sheet([cell_text(c) or "" for c in header], data(), close)


def cell_text(value: Any) -> str | None:
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

"""Reading and writing the tables officials exchange: CSV (UTF-8, header row) and .xlsx (first
sheet, header row). Rows are read one at a time (openpyxl's read-only mode), never the whole
workbook into memory, and a file over `max_rows` is refused rather than half read."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from openpyxl import Workbook, load_workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"


class UnreadableTable(ValueError):
    """The upload is not a CSV or .xlsx table with a header row."""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).strip()


def rows_of(content: bytes, media_type: str) -> Iterator[dict[str, str]]:
    """Each data row as {header: text}; headers are lower-cased and trimmed."""
    if media_type.startswith(XLSX) or content[:2] == b"PK":
        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise UnreadableTable(f"not a readable .xlsx workbook: {exc}") from None
        rows: Iterable[Sequence[object]] = book.worksheets[0].iter_rows(values_only=True)
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnreadableTable("a CSV file must be UTF-8") from None
        rows = csv.reader(io.StringIO(text))
    iterator = iter(rows)
    header = [_cell(h).lower() for h in next(iterator, [])]
    if not any(header):
        raise UnreadableTable("the table has no header row")
    for row in iterator:
        cells = [_cell(v) for v in row]
        if any(cells):
            yield dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))


def _xlsx_value(value: object) -> object:
    # Excel has no time zones: an instant is written as RFC 3339 text, as in the CSV.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.isoformat()
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue().encode("utf-8-sig")  # the BOM lets Excel open it as UTF-8


def xlsx_bytes(sheet: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append(list(header))
    for row in rows:
        ws.append([_xlsx_value(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

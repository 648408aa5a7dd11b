"""Any list as a downloadable CSV or .xlsx file, streamed: rows are pulled from an async source
and written out a batch at a time, so memory stays flat however long the list.

A route adopts it in two lines — an async iterator of row tuples and the column names:

    rows = stream_query(pool, "SELECT a, b FROM t WHERE …", arg)
    return tabular_response(rows, ("a", "b"), fmt, "t")

CSV is UTF-8 with a byte-order mark (so Excel reads Vietnamese text right), comma-separated,
CRLF line ends. .xlsx is written by hand as a zip stream (`zipfile` writes to a stream it
cannot seek with data descriptors): one sheet of inline strings, numbers and booleans — what
the import reads back. Dates and times are ISO text, which sorts and re-imports as is.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any, Literal
from xml.sax.saxutils import escape

import asyncpg
from fastapi.responses import StreamingResponse

ExportFormat = Literal["csv", "xlsx"]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# Rows written between two chunks sent: large enough to amortise, small enough to stay flat.
BATCH_ROWS = 1000
_FETCH = 2000
# Characters XML 1.0 cannot hold (text in the database may carry some controls).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


async def stream_query(pool: asyncpg.Pool, query: str, *args: Any) -> AsyncIterator[tuple]:
    """The query's rows through a server-side cursor, in one read-only transaction (one
    consistent snapshot), holding one connection only while the download runs."""
    async with pool.acquire() as conn, conn.transaction(readonly=True,
                                                        isolation="repeatable_read"):
        async for record in conn.cursor(query, *args, prefetch=_FETCH):
            yield tuple(record.values())


def tabular_response(rows: AsyncIterator[Sequence[Any]], columns: Sequence[str],
                     fmt: ExportFormat, name: str) -> StreamingResponse:
    """A download of `rows` under `columns`, named `<name>.<fmt>`."""
    body = _csv(rows, columns) if fmt == "csv" else _xlsx(rows, columns, name)
    return StreamingResponse(body, media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "Cache-Control": "no-store"})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


async def _csv(rows: AsyncIterator[Sequence[Any]], columns: Sequence[str]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    yield ("\ufeff" + buffer.getvalue()).encode()
    buffer.seek(0)
    buffer.truncate()
    count = 0
    async for row in rows:
        writer.writerow([_text(v) for v in row])
        count += 1
        if count % BATCH_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


class _Sink(io.RawIOBase):
    """Where the zip is written: bytes collected until the response takes them; no seeking."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


_NS = "http://schemas.openxmlformats.org"
_CONTENT_TYPES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="{_NS}/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"""
_ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_NS}/package/2006/relationships"><Relationship Id="rId1" Type="{_NS}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"""
_WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_NS}/package/2006/relationships"><Relationship Id="rId1" Type="{_NS}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"""


def _workbook(sheet: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook '
            f'xmlns="{_NS}/spreadsheetml/2006/main" '
            f'xmlns:r="{_NS}/officeDocument/2006/relationships"><sheets>'
            f'<sheet name="{escape(sheet[:31])}" sheetId="1" r:id="rId1"/></sheets></workbook>')


def _cell(value: Any) -> str:
    if value is None:
        return "<c/>"
    if isinstance(value, bool):
        return f'<c t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int) and abs(value) < 10**15:  # beyond, Excel's doubles round
        return f"<c><v>{value}</v></c>"
    text = escape(_NOT_XML.sub("", _text(value)))
    return f'<c t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _row(values: Sequence[Any]) -> str:
    return "<row>" + "".join(_cell(v) for v in values) + "</row>"


async def _xlsx(rows: AsyncIterator[Sequence[Any]], columns: Sequence[str],
                sheet: str) -> AsyncIterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _workbook(sheet))
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write((f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                        f'<worksheet xmlns="{_NS}/spreadsheetml/2006/main"><sheetData>'
                        + _row(columns)).encode())
            batch: list[str] = []
            async for row in rows:
                batch.append(_row(row))
                if len(batch) == BATCH_ROWS:
                    part.write("".join(batch).encode())
                    batch.clear()
                    yield sink.take()
            part.write(("".join(batch) + "</sheetData></worksheet>").encode())
    yield sink.take()

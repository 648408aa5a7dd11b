"""Bulk import of earlier years' award decisions into the title history (CSV or .xlsx), for a
deployment that starts mid-history: the consecutive-year prerequisites read it.

Columns (header row, any order): `subject_kind` (`member`/`unit`), `subject_id`, `title`,
`level`, `year`, `decision_number`, `issuer_name`, `unit_id`. Every row is checked before
anything is stored: one bad row refuses the file with each problem named by line and column;
a title already held for that year is kept as it is (never overwritten by an import).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import asyncpg

from contracts.events.common import LEVELS, TITLES

from .table_files import rows_of

COLUMNS = ("subject_kind", "subject_id", "title", "level", "year", "decision_number",
           "issuer_name", "unit_id")
MAX_ROWS = 200_000
MAX_TEXT = 200


@dataclass(frozen=True)
class HistoryRow:
    subject_kind: str
    subject_id: str
    title: str
    level: str
    year: int
    decision_number: str
    issuer_name: str
    unit_id: str


@dataclass
class Parsed:
    rows: list[HistoryRow] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)  # {line, field, message}
    lines: list[int] = field(default_factory=list)  # each row's line in the file


def _text(row: dict[str, str], name: str, line: int, errors: list) -> str:
    value = row.get(name, "")
    if not value:
        errors.append({"line": line, "field": name, "message": "required"})
    elif "\x00" in value or len(value) > MAX_TEXT:
        errors.append({"line": line, "field": name,
                       "message": f"at most {MAX_TEXT} characters, no NUL"})
    return value


def validate(rows: Iterable[dict[str, str]]) -> Parsed:
    out = Parsed()
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1
        if index >= MAX_ROWS:
            out.errors.append({"line": line, "field": None,
                               "message": f"at most {MAX_ROWS} rows per file"})
            break
        errors: list[dict[str, object]] = []
        values = {name: _text(row, name, line, errors) for name in COLUMNS}
        if values["subject_kind"] and values["subject_kind"] not in ("member", "unit"):
            errors.append({"line": line, "field": "subject_kind",
                           "message": "`member` or `unit`"})
        if values["title"] and values["title"] not in TITLES:
            errors.append({"line": line, "field": "title", "message": "unknown title"})
        if values["level"] and values["level"] not in LEVELS:
            errors.append({"line": line, "field": "level",
                           "message": f"one of {', '.join(LEVELS)}"})
        year = int(values["year"]) if values["year"].isdigit() else 0
        if values["year"] and not 1975 <= year <= 2100:
            errors.append({"line": line, "field": "year", "message": "a year, 1975–2100"})
        if errors:
            out.errors += errors
            continue
        out.rows.append(HistoryRow(**(values | {"year": year})))
        out.lines.append(line)
    return out


def parse(content: bytes, media_type: str) -> Parsed:
    return validate(rows_of(content, media_type))


def parse_csv(text: str) -> Parsed:
    return parse(text.encode(), "text/csv")


async def store(conn: asyncpg.Connection, rows: Sequence[HistoryRow],
                source: str = "import") -> int:
    """Insert the rows in one statement; give how many were new."""
    if not rows:
        return 0
    return len(await conn.fetch(
        """INSERT INTO title_history (subject_kind, subject_id, title, level, year,
                                      decision_number, issuer_name, unit_id, source)
           SELECT *, $9 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                                    $6::text[], $7::text[], $8::text[])
           ON CONFLICT DO NOTHING RETURNING 1""",
        *[[getattr(r, c) for r in rows] for c in COLUMNS], source))

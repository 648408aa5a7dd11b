"""Exclusions recorded per member and year, with their source: one at a time by an official or
in bulk from a CSV or .xlsx file (columns `member_id`, `year`, `kind`, `source`, `note`).
Every row of a file is checked before anything is stored."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from contracts.events.rules import EXCLUSION_KINDS

from .history_import import MAX_ROWS, MAX_TEXT, Parsed


@dataclass(frozen=True)
class ExclusionRow:
    member_id: str
    year: int
    kind: str
    source: str
    note: str | None


def validate(rows: Iterable[dict[str, str]]) -> Parsed:
    out = Parsed()
    for index, row in enumerate(rows):
        line = index + 2
        if index >= MAX_ROWS:
            out.errors.append({"line": line, "field": None,
                               "message": f"at most {MAX_ROWS} rows per file"})
            break
        errors = []
        for name in ("member_id", "year", "kind", "source"):
            if not row.get(name):
                errors.append({"line": line, "field": name, "message": "required"})
        for name in ("member_id", "source", "note"):
            value = row.get(name) or ""
            if "\x00" in value or len(value) > MAX_TEXT:
                errors.append({"line": line, "field": name,
                               "message": f"at most {MAX_TEXT} characters, no NUL"})
        if row.get("kind") and row["kind"] not in EXCLUSION_KINDS:
            errors.append({"line": line, "field": "kind",
                           "message": f"one of {', '.join(EXCLUSION_KINDS)}"})
        year = row.get("year", "")
        if year and not (year.isdigit() and 1975 <= int(year) <= 2100):
            errors.append({"line": line, "field": "year", "message": "a year, 1975–2100"})
        if errors:
            out.errors += errors
            continue
        out.rows.append(ExclusionRow(row["member_id"], int(year), row["kind"], row["source"],
                                     row.get("note") or None))
        out.lines.append(line)
    return out


async def store(conn: asyncpg.Connection, rows: Sequence[ExclusionRow],
                units: dict[str, str], actor: dict, now: datetime) -> int:
    """Insert in one statement; an exclusion already recorded is kept as it was. `units`: each
    member's unit today."""
    if not rows:
        return 0
    return len(await conn.fetch(
        """INSERT INTO exclusions (member_id, year, kind, source, note, unit_id, recorded_by,
                                   recorded_at)
           SELECT m, y, k, s, n, u, $7, $8
           FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
                AS x(m, y, k, s, n, u)
           ON CONFLICT DO NOTHING RETURNING 1""",
        [r.member_id for r in rows], [r.year for r in rows], [r.kind for r in rows],
        [r.source for r in rows], [r.note for r in rows], [units[r.member_id] for r in rows],
        json.dumps(actor), now))


async def of_member(pool: asyncpg.Pool, member_id: str, year: int | None, after: str,
                    limit: int) -> list[dict]:
    rows = await pool.fetch(
        """SELECT member_id, year, kind, source, note, unit_id, recorded_at,
                  recorded_by::text AS recorded_by
           FROM exclusions WHERE member_id = $1 AND ($2::int IS NULL OR year = $2)
             AND (year::text || '/' || kind) > $3
           ORDER BY year::text || '/' || kind LIMIT $4""", member_id, year, after, limit)
    return [dict(r) | {"recorded_by": json.loads(r["recorded_by"])} for r in rows]

"""A bulk import's SQL: the checked rows of a file COPYed into a temporary staging table, the
database's checks over the whole table at once (`import_checks.py`), and the units or members
recorded with their outbox events (`import_events.py`) by a handful of INSERT…SELECT statements
— never a round trip per row. Everything runs in the importing connection's one transaction: a
refused file rolls back and leaves nothing behind.

What a row becomes (its `action` in the plan):
- `register`: the id is new — `thidua.unit.registered.v1` / `thidua.member.registered.v1`;
- `update`: the id exists, the row is dated after its latest state and differs from it —
  `…updated.v1` with the changed fields;
- `same`: the state the row describes already holds on its date (a re-imported file): nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.runtime import outbox_wake

from .import_events import EVENT_ID, stage_events
from .import_files import RowError
from .import_rows import STAGED, Kind

_STAGE = {
    "units": """CREATE TEMP TABLE import_rows (
        row_no integer NOT NULL, unit_id text NOT NULL, name text NOT NULL, kind text NOT NULL,
        parent_id text, district_id text, district_given boolean NOT NULL, sector text NOT NULL,
        member_count integer NOT NULL, direct_worker_count integer NOT NULL,
        effective_from date NOT NULL) ON COMMIT DROP""",
    "members": """CREATE TEMP TABLE import_rows (
        row_no integer NOT NULL, member_id text NOT NULL, unit_id text NOT NULL,
        full_name text NOT NULL, gender text NOT NULL, direct_worker boolean NOT NULL,
        union_officer boolean NOT NULL, job_title text, effective_from date NOT NULL)
        ON COMMIT DROP""",
}
_BAD = """CREATE TEMP TABLE import_bad (row_no integer NOT NULL, col text, code text NOT NULL,
          reason text NOT NULL) ON COMMIT DROP"""

# A million members' events sort about 400 MB of rows: at 128 MB the sort went to disk
# (a quarter of the outbox insert's time). A sort or hash takes this much only when the file
# is that large: the database server needs the room while a city-wide file imports.
_WORK_MEM = "512MB"


@dataclass(frozen=True)
class Outcome:
    registered: int
    updated: int
    unchanged: int


async def stage(conn: asyncpg.Connection, kind: Kind, rows: AsyncIterable[tuple]) -> None:
    """Create the staging tables and COPY the checked rows into them (streamed by asyncpg)."""
    # The plan's joins and the events' ordering sort and hash a whole file: in memory, not in
    # temporary files (the default 4 MB spills at a few ten thousand rows).
    await conn.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
    await conn.execute(_STAGE[kind])
    await conn.execute(_BAD)
    await conn.copy_records_to_table("import_rows", records=rows,
                                     columns=("row_no", *STAGED[kind]))
    key = "unit_id" if kind == "units" else "member_id"
    await conn.execute(f"CREATE INDEX ON import_rows ({key})")
    await conn.execute("ANALYZE import_rows")


async def bad_rows(conn: asyncpg.Connection, limit: int) -> tuple[int, list[RowError]]:
    """How many rows the database checks refused, and the first `limit` of their errors."""
    count = await conn.fetchval("SELECT count(DISTINCT row_no) FROM import_bad")
    rows = await conn.fetch("SELECT row_no, col, code, reason FROM import_bad "
                            "ORDER BY row_no, col LIMIT $1", limit)
    return count, [RowError(r["row_no"], r["col"], r["code"], r["reason"]) for r in rows]



class ConcurrentRegistration(Exception):
    """An id of the file was registered by another command after the checks: run it again."""


async def record(conn: asyncpg.Connection, kind: Kind, *, source: str, time: datetime,
                 correlation_id: str, actor_json: str, job_id: str | None = None) -> Outcome:
    """Record every planned row and its event in the outbox (the plan holds no bad row now).
    A member state names the import job `job_id` as its recorder (the job holds the actor
    once, migration 0016); without a job each state carries the actor itself."""
    noun = "unit" if kind == "units" else "member"
    # The ids checked as new were not locked (they did not exist): a command that registered
    # one meanwhile makes this insert fail on the primary key, and the whole import with it.
    # A plain insert: `ON CONFLICT` would cost a speculative insertion a row.
    try:
        await conn.execute(f"""INSERT INTO {kind} ({noun}_id)
                               SELECT {noun}_id FROM import_plan WHERE action = 'register'
                               ORDER BY {noun}_id""")
    except asyncpg.UniqueViolationError:
        raise ConcurrentRegistration() from None
    counts = await conn.fetchrow("""
        SELECT count(*) FILTER (WHERE action = 'register') AS registered,
               count(*) FILTER (WHERE action = 'update') AS updated,
               count(*) FILTER (WHERE action = 'same') AS unchanged FROM import_plan""")
    # Event ids in the order of the rows: one random UUID4 prefix per import and the row number
    # in the last 12 hex digits, so the outbox's unique index on them grows at its end instead
    # of at a random page a row.
    ids = str(uuid.uuid4())[:24]
    # A member's state ends where the next begins (`valid` follows `valid_until`).
    close, is_open = (("valid = daterange(s.effective_from, p.effective_from)",
                       "upper_inf(s.valid)") if kind == "units"
                      else ("valid_until = p.effective_from", "s.valid_until IS NULL"))
    await conn.execute(f"""
        UPDATE {noun}_states s SET {close}
        FROM import_plan p
        WHERE p.action = 'update' AND s.{noun}_id = p.{noun}_id AND {is_open}""")
    if kind == "units":
        await conn.execute(f"""
            INSERT INTO unit_states (unit_id, effective_from, valid, parent_id, name, kind,
                                     district_id, sector, member_count, direct_worker_count,
                                     status, event_id, recorded_by)
            SELECT unit_id, effective_from, daterange(effective_from, NULL), parent_id, name,
                   kind, district, sector, member_count, direct_worker_count, 'active',
                   {EVENT_ID}, $1::jsonb
            FROM import_plan WHERE action <> 'same'""", actor_json, ids)
    else:
        await conn.execute(f"""
            INSERT INTO member_states (member_id, effective_from, unit_id, full_name,
                                       gender, direct_worker, union_officer, job_title, status,
                                       event_id, recorded_by, import_job_id)
            SELECT member_id, effective_from, unit_id,
                   full_name, gender, direct_worker, union_officer, job_title, 'active',
                   {EVENT_ID}, CASE WHEN $3::text IS NULL THEN $1::jsonb END, $3::text
            FROM import_plan WHERE action <> 'same' ORDER BY member_id""", actor_json, ids, job_id)
    stamp = time.isoformat().replace("+00:00", "Z")
    staged = await conn.execute(stage_events(kind), json.dumps(source), json.dumps(stamp),
                                json.dumps(correlation_id), actor_json, correlation_id, ids)
    if staged != "INSERT 0 0":
        outbox_wake.staged()  # the pool's release after the commit wakes the relay
    return Outcome(counts["registered"], counts["updated"], counts["unchanged"])

"""A bulk import's SQL: the checked rows of a file COPYed into a temporary staging table, the
checks that need the database made over the whole table at once, and the units or members
recorded with their outbox events by a handful of INSERT…SELECT statements — never a round
trip per row. Everything runs in the importing connection's one transaction: a refused file
rolls back and leaves nothing behind.

What a row becomes (its `action` in the plan):
- `register`: the id is new — `thidua.unit.registered.v1` / `thidua.member.registered.v1`;
- `update`: the id exists, the row is dated after its latest state and differs from it —
  `…updated.v1` with the changed fields;
- `same`: the state the row describes already holds on its date (a re-imported file): nothing.
A row dated on or before an existing id's latest state that differs from it is refused
(`change_not_after_latest`), as the single command refuses it. Moving a unit under another
parent is a dated command of its own (`POST /units/{id}/changes`, with its cycle checks): an
import refuses it (`move_not_imported`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from contracts.topics import ORG

from .import_rows import STAGED, Kind, RowError
from .org_repository import MAX_DEPTH

_MOVES_LOCK = "SELECT pg_advisory_xact_lock(hashtext('thidua-registration-unit-moves'))"

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
# The units the caller may act on today: their subtree (city administrators: everywhere).
_SCOPE = f"""
    CREATE TEMP TABLE import_scope ON COMMIT DROP AS
    WITH RECURSIVE down (unit_id, depth) AS (
        SELECT $1::text, 0 WHERE EXISTS (SELECT FROM unit_states
                                         WHERE unit_id = $1 AND valid @> $2::date)
        UNION
        SELECT s.unit_id, d.depth + 1 FROM down d
        JOIN unit_states s ON s.parent_id = d.unit_id AND s.valid @> $2::date
        WHERE d.depth < {MAX_DEPTH}
    )
    SELECT unit_id FROM down"""


@dataclass(frozen=True)
class Caller:
    """Who imports: `scope_unit_id` None for a city administrator (everywhere)."""

    scope_unit_id: str | None
    today: date
    actor_json: str


@dataclass(frozen=True)
class Outcome:
    registered: int
    updated: int
    unchanged: int


async def stage(conn: asyncpg.Connection, kind: Kind, rows: AsyncIterable[tuple]) -> None:
    """Create the staging tables and COPY the checked rows into them (streamed by asyncpg)."""
    await conn.execute(_STAGE[kind])
    await conn.execute(_BAD)
    await conn.copy_records_to_table("import_rows", records=rows,
                                     columns=("row_no", *STAGED[kind]))
    key = "unit_id" if kind == "units" else "member_id"
    await conn.execute(f"CREATE INDEX ON import_rows ({key})")
    await conn.execute("ANALYZE import_rows")


async def check(conn: asyncpg.Connection, kind: Kind, caller: Caller) -> None:
    """Lock what the import reads and writes, then record in `import_bad` every row the
    database refuses, and in the temporary `import_plan` what each good row becomes."""
    scoped = caller.scope_unit_id is not None
    if scoped:
        await conn.execute(_SCOPE, caller.scope_unit_id, caller.today)
        await conn.execute("CREATE INDEX ON import_scope (unit_id)")
    if kind == "units":
        await _check_units(conn, scoped)
    else:
        await _check_members(conn, scoped)


def _in_scope(scoped: bool, column: str) -> str:
    return f"EXISTS (SELECT FROM import_scope sc WHERE sc.unit_id = {column})" if scoped else "true"


_REPEATED = """
    INSERT INTO import_bad
    SELECT row_no, '{key}', 'repeated_in_file',
           format('%s appears in row %s already: one row per {noun} and file', {key}, first_row)
    FROM (SELECT row_no, {key}, min(row_no) OVER (PARTITION BY {key}) AS first_row
          FROM import_rows) r
    WHERE row_no > first_row"""
async def _check_members(conn: asyncpg.Connection, scoped: bool) -> None:
    await conn.execute(_REPEATED.format(key="member_id", noun="member"))
    # Units the rows name, locked against a dissolution while the import runs.
    await conn.execute("""SELECT FROM units WHERE unit_id IN (SELECT DISTINCT unit_id
                          FROM import_rows) ORDER BY unit_id FOR SHARE""")
    await conn.execute("""SELECT FROM members m WHERE member_id IN (SELECT member_id
                          FROM import_rows) ORDER BY member_id FOR UPDATE""")
    await conn.execute(f"""
        CREATE TEMP TABLE import_units_on ON COMMIT DROP AS
        SELECT u.unit_id, u.effective_from,
               {_in_scope(scoped, 'u.unit_id')}
               AND EXISTS (SELECT FROM units k WHERE k.unit_id = u.unit_id) AS in_scope,
               EXISTS (SELECT FROM unit_states a WHERE a.unit_id = u.unit_id
                       AND a.valid @> u.effective_from AND a.status = 'active'
                       AND NOT EXISTS (SELECT FROM unit_states x WHERE x.unit_id = u.unit_id
                           AND x.status = 'dissolved'
                           AND x.valid && daterange(u.effective_from, NULL))) AS active,
               (SELECT a.district_id FROM unit_states a WHERE a.unit_id = u.unit_id
                AND a.valid @> u.effective_from) AS district_id
        FROM (SELECT DISTINCT unit_id, effective_from FROM import_rows) u""")
    await conn.execute("ANALYZE import_units_on")
    await conn.execute("""
        INSERT INTO import_bad
        SELECT r.row_no, 'unit_id',
               CASE WHEN NOT o.in_scope THEN 'unit_not_found' ELSE 'unit_not_active' END,
               CASE WHEN NOT o.in_scope THEN format('no unit %s in your scope', r.unit_id)
                    ELSE format('unit %s has no active state on %s', r.unit_id,
                                r.effective_from) END
        FROM import_rows r JOIN import_units_on o USING (unit_id, effective_from)
        WHERE NOT (o.in_scope AND o.active)""")
    # Each row beside the member's state on its date and latest state, when it exists.
    await conn.execute(f"""
        {_PLAN_OPEN}
        SELECT r.*, o.district_id AS district, l.effective_from AS latest_from,
               l.status AS latest_status, l.unit_id AS latest_unit,
               {_in_scope(scoped, 'l.unit_id')} AS latest_in_scope,
               (l.member_id IS NOT NULL) AS known,
               (s.member_id IS NOT NULL AND s.status = 'active'
                AND (s.unit_id, s.full_name, s.gender, s.direct_worker, s.union_officer)
                    = (r.unit_id, r.full_name, r.gender, r.direct_worker, r.union_officer)
                AND s.job_title IS NOT DISTINCT FROM r.job_title) AS same_on_date,
               array_remove(ARRAY[
                   CASE WHEN l.unit_id <> r.unit_id THEN 'unit_id' END,
                   CASE WHEN l.full_name <> r.full_name THEN 'full_name' END,
                   CASE WHEN l.gender <> r.gender THEN 'gender' END,
                   CASE WHEN l.direct_worker <> r.direct_worker THEN 'direct_worker' END,
                   CASE WHEN l.union_officer <> r.union_officer THEN 'union_officer' END,
                   CASE WHEN l.job_title IS DISTINCT FROM r.job_title THEN 'job_title' END],
                   NULL) AS changed
        FROM import_rows r
        JOIN import_units_on o USING (unit_id, effective_from)
        LEFT JOIN member_states l ON l.member_id = r.member_id AND l.valid_until IS NULL
        LEFT JOIN member_states s ON s.member_id = r.member_id AND s.valid @> r.effective_from
        WHERE NOT EXISTS (SELECT FROM import_bad b WHERE b.row_no = r.row_no)
        {_PLAN_CLOSE}""")
    await _classify(conn, "member", "left")


# What a row of the plan becomes; its event id when it emits one.
_PLAN_OPEN = """CREATE TEMP TABLE import_plan ON COMMIT DROP AS
    SELECT q.*, CASE WHEN q.action <> 'same' THEN gen_random_uuid()::text END AS event_id
    FROM (SELECT i.*, CASE WHEN NOT i.known THEN 'register'
                          WHEN i.same_on_date OR cardinality(i.changed) = 0 THEN 'same'
                          ELSE 'update' END AS action
          FROM ("""
_PLAN_CLOSE = ") i) q"


async def _classify(conn: asyncpg.Connection, noun: str, closed: str) -> None:
    """Rows of known ids: the same state, an update, or refused as the change command would."""
    await conn.execute(f"""
        INSERT INTO import_bad
        SELECT row_no, '{noun}_id', '{noun}_not_found', format('no {noun} %s in your scope',
                                                                {noun}_id)
        FROM import_plan WHERE known AND NOT latest_in_scope AND NOT same_on_date
        UNION ALL
        SELECT row_no, 'status', 'already_{closed}', format('{noun} %s is {closed} since %s; it '
                                                            'takes no more changes', {noun}_id,
                                                            latest_from)
        FROM import_plan WHERE known AND latest_in_scope AND NOT same_on_date
                          AND latest_status = '{closed}' AND effective_from > latest_from
        UNION ALL
        SELECT row_no, 'effective_from', 'change_not_after_latest',
               format('{noun} %s has a change from %s; a change must be dated after it (history '
                      'before a recorded change is never rewritten)', {noun}_id, latest_from)
        FROM import_plan WHERE known AND latest_in_scope AND NOT same_on_date
                          AND effective_from <= latest_from""")
    await conn.execute("DELETE FROM import_plan p USING import_bad b WHERE b.row_no = p.row_no")


async def _check_units(conn: asyncpg.Connection, scoped: bool) -> None:
    await conn.execute(_REPEATED.format(key="unit_id", noun="unit"))
    await conn.execute(_MOVES_LOCK)
    await conn.execute("""SELECT FROM units WHERE unit_id IN (SELECT unit_id FROM import_rows
                          UNION SELECT parent_id FROM import_rows) ORDER BY unit_id FOR UPDATE""")
    await conn.execute("""
        CREATE TEMP TABLE import_known ON COMMIT DROP AS
        SELECT r.row_no FROM import_rows r WHERE EXISTS (SELECT FROM units u
                                                         WHERE u.unit_id = r.unit_id)""")
    # New units: a root only for city administrators; each must hang, through rows of the file
    # dated no later than it, from a unit registered already, active on its date, in scope.
    await conn.execute(f"""
        INSERT INTO import_bad
        SELECT r.row_no, 'parent_id', 'parent_required',
               'only a city administrator registers a unit without a parent'
        FROM import_rows r
        WHERE r.parent_id IS NULL AND {str(scoped).lower()}
          AND r.row_no NOT IN (SELECT row_no FROM import_known)""")
    await conn.execute(f"""
        CREATE TEMP TABLE import_anchored ON COMMIT DROP AS
        WITH RECURSIVE fresh AS (
            SELECT r.* FROM import_rows r
            WHERE r.row_no NOT IN (SELECT row_no FROM import_known)
              AND r.row_no NOT IN (SELECT row_no FROM import_bad)
        ), anchored (row_no, unit_id, effective_from, district, depth) AS (
            SELECT f.row_no, f.unit_id, f.effective_from,
                   CASE WHEN f.district_given OR f.parent_id IS NULL THEN f.district_id
                        ELSE p.district_id END, 0
            FROM fresh f
            LEFT JOIN unit_states p ON p.unit_id = f.parent_id AND p.valid @> f.effective_from
            WHERE f.parent_id IS NULL
               OR (p.status = 'active' AND {_in_scope(scoped, 'f.parent_id')}
                   AND NOT EXISTS (SELECT FROM unit_states x WHERE x.unit_id = f.parent_id
                                   AND x.status = 'dissolved'
                                   AND x.valid && daterange(f.effective_from, NULL)))
            UNION ALL
            SELECT c.row_no, c.unit_id, c.effective_from,
                   CASE WHEN c.district_given THEN c.district_id ELSE a.district END,
                   a.depth + 1
            FROM anchored a JOIN fresh c ON c.parent_id = a.unit_id
                                        AND c.effective_from >= a.effective_from
            WHERE a.depth < {MAX_DEPTH}
        )
        SELECT * FROM anchored""")
    await conn.execute(f"""
        INSERT INTO import_bad
        SELECT r.row_no, 'parent_id',
               CASE WHEN f.row_no IS NOT NULL THEN 'parent_not_imported'
                    WHEN {_in_scope(scoped, 'r.parent_id')}
                         AND EXISTS (SELECT FROM units WHERE unit_id = r.parent_id)
                         THEN 'unit_not_active'
                    ELSE 'unit_not_found' END,
               CASE WHEN f.row_no IS NOT NULL THEN
                        format('parent %s is the unit of row %s, which cannot be imported or is '
                               'dated after %s', r.parent_id, f.row_no, r.effective_from)
                    WHEN {_in_scope(scoped, 'r.parent_id')}
                         AND EXISTS (SELECT FROM units WHERE unit_id = r.parent_id)
                         THEN format('unit %s has no active state on %s', r.parent_id,
                                     r.effective_from)
                    ELSE format('no unit %s in your scope, nor a row of this file that can be '
                                'imported', r.parent_id) END
        FROM import_rows r
        LEFT JOIN import_rows f ON f.unit_id = r.parent_id AND f.row_no <> r.row_no
        WHERE r.row_no NOT IN (SELECT row_no FROM import_known)
          AND r.row_no NOT IN (SELECT row_no FROM import_bad)
          AND r.row_no NOT IN (SELECT row_no FROM import_anchored)""")
    await conn.execute(f"""
        {_PLAN_OPEN}
        SELECT r.*, coalesce(a.depth, -1) AS depth,
               CASE WHEN l.unit_id IS NULL THEN a.district
                    WHEN r.district_given THEN r.district_id ELSE l.district_id END AS district,
               l.effective_from AS latest_from, l.status AS latest_status,
               l.parent_id AS latest_parent, l.kind AS latest_kind,
               {_in_scope(scoped, 'l.unit_id')} AS latest_in_scope,
               (l.unit_id IS NOT NULL) AS known,
               (s.unit_id IS NOT NULL AND s.status = 'active'
                AND (s.name, s.kind, s.sector, s.member_count, s.direct_worker_count)
                    = (r.name, r.kind, r.sector, r.member_count, r.direct_worker_count)
                AND s.parent_id IS NOT DISTINCT FROM r.parent_id
                AND (NOT r.district_given OR s.district_id IS NOT DISTINCT FROM r.district_id))
                   AS same_on_date,
               array_remove(ARRAY[
                   CASE WHEN r.district_given AND l.district_id IS DISTINCT FROM r.district_id
                        THEN 'district_id' END,
                   CASE WHEN l.name <> r.name THEN 'name' END,
                   CASE WHEN l.sector <> r.sector THEN 'sector' END,
                   CASE WHEN l.member_count <> r.member_count THEN 'member_count' END,
                   CASE WHEN l.direct_worker_count <> r.direct_worker_count
                        THEN 'direct_worker_count' END], NULL) AS changed
        FROM import_rows r
        LEFT JOIN import_anchored a ON a.row_no = r.row_no
        LEFT JOIN unit_states l ON l.unit_id = r.unit_id AND upper_inf(l.valid)
        LEFT JOIN unit_states s ON s.unit_id = r.unit_id AND s.valid @> r.effective_from
        WHERE NOT EXISTS (SELECT FROM import_bad b WHERE b.row_no = r.row_no)
        {_PLAN_CLOSE}""")
    await conn.execute("""
        INSERT INTO import_bad
        SELECT row_no, 'parent_id', 'move_not_imported',
               format('unit %s has parent %s; a move is recorded with POST /units/%s/changes',
                      unit_id, coalesce(latest_parent, 'none'), unit_id)
        FROM import_plan WHERE known AND latest_in_scope AND NOT same_on_date
                          AND parent_id IS DISTINCT FROM latest_parent
        UNION ALL
        SELECT row_no, 'kind', 'kind_cannot_change',
               format('unit %s is a %s; its kind does not change', unit_id, latest_kind)
        FROM import_plan WHERE known AND latest_in_scope AND NOT same_on_date
                          AND kind <> latest_kind""")
    await _classify(conn, "unit", "dissolved")


async def bad_rows(conn: asyncpg.Connection, limit: int) -> tuple[int, list[RowError]]:
    """How many rows the database checks refused, and the first `limit` of their errors."""
    count = await conn.fetchval("SELECT count(DISTINCT row_no) FROM import_bad")
    rows = await conn.fetch("SELECT row_no, col, code, reason FROM import_bad "
                            "ORDER BY row_no, col LIMIT $1", limit)
    return count, [RowError(r["row_no"], r["col"], r["code"], r["reason"]) for r in rows]


def _event(data: str, subject: str, district: str) -> str:
    """A CloudEvent (`contracts.envelope`) as jsonb, the same JSON `encode_event` writes up to
    key order and spacing; $1 source, $2 time, $3 correlation id."""
    return f"""convert_to((jsonb_build_object(
        'specversion', '1.0', 'id', p.event_id, 'source', $1::text, 'type', p.event_type,
        'time', $2::text, 'subject', {subject}, 'datacontenttype', 'application/json',
        'correlationid', $3::text, 'data', {data})
        || CASE WHEN {district} IS NULL THEN '{{}}'::jsonb
                ELSE jsonb_build_object('district', {district}) END)::text, 'UTF8')"""


_UNIT_DATA = """jsonb_build_object(
        'actor', $4::jsonb, 'unit_id', p.unit_id, 'name', p.name, 'kind', p.kind,
        'parent_id', p.parent_id, 'effective_from', p.effective_from, 'district_id', p.district,
        'sector', p.sector, 'member_count', p.member_count,
        'direct_worker_count', p.direct_worker_count, 'status', 'active')
        || CASE WHEN p.action = 'update' THEN jsonb_build_object(
               'changed', to_jsonb(p.changed), 'previous_parent_id', NULL) ELSE '{}' END"""
_MEMBER_DATA = """jsonb_build_object(
        'actor', $4::jsonb, 'member_id', p.member_id, 'unit_id', p.unit_id,
        'full_name', p.full_name, 'gender', p.gender, 'direct_worker', p.direct_worker,
        'union_officer', p.union_officer, 'job_title', p.job_title,
        'effective_from', p.effective_from, 'status', 'active')
        || CASE WHEN p.action = 'update' THEN jsonb_build_object(
               'changed', to_jsonb(p.changed),
               'previous_unit_id', CASE WHEN p.latest_unit <> p.unit_id THEN p.latest_unit END)
           ELSE '{}' END"""


class ConcurrentRegistration(Exception):
    """An id of the file was registered by another command after the checks: run it again."""


async def record(conn: asyncpg.Connection, kind: Kind, *, source: str, time: datetime,
                 correlation_id: str, actor_json: str) -> Outcome:
    """Record every planned row and its event in the outbox (the plan holds no bad row now)."""
    noun = "unit" if kind == "units" else "member"
    fresh = await conn.fetchval(f"""
        WITH claimed AS (INSERT INTO {kind} ({noun}_id)
                         SELECT {noun}_id FROM import_plan WHERE action = 'register'
                         ON CONFLICT DO NOTHING RETURNING 1)
        SELECT count(*) FROM claimed""")
    counts = await conn.fetchrow("""
        SELECT count(*) FILTER (WHERE action = 'register') AS registered,
               count(*) FILTER (WHERE action = 'update') AS updated,
               count(*) FILTER (WHERE action = 'same') AS unchanged FROM import_plan""")
    if fresh != counts["registered"]:
        raise ConcurrentRegistration()
    # A member's state ends where the next begins (`valid` follows `valid_until`).
    close, is_open = (("valid = daterange(s.effective_from, p.effective_from)",
                       "upper_inf(s.valid)") if kind == "units"
                      else ("valid_until = p.effective_from", "s.valid_until IS NULL"))
    await conn.execute(f"""
        UPDATE {noun}_states s SET {close}
        FROM import_plan p
        WHERE p.action = 'update' AND s.{noun}_id = p.{noun}_id AND {is_open}""")
    if kind == "units":
        await conn.execute("""
            INSERT INTO unit_states (unit_id, effective_from, valid, parent_id, name, kind,
                                     district_id, sector, member_count, direct_worker_count,
                                     status, event_id, recorded_by)
            SELECT unit_id, effective_from, daterange(effective_from, NULL), parent_id, name,
                   kind, district, sector, member_count, direct_worker_count, 'active',
                   event_id, $1::jsonb
            FROM import_plan WHERE action <> 'same'""", actor_json)
        data, order = _UNIT_DATA, "depth, row_no"
    else:
        await conn.execute("""
            INSERT INTO member_states (member_id, effective_from, unit_id, full_name,
                                       gender, direct_worker, union_officer, job_title, status,
                                       event_id, recorded_by)
            SELECT member_id, effective_from, unit_id,
                   full_name, gender, direct_worker, union_officer, job_title, 'active',
                   event_id, $1::jsonb
            FROM import_plan WHERE action <> 'same'""", actor_json)
        data, order = _MEMBER_DATA, "row_no"
    registered_type, updated_type = (f"thidua.{noun}.registered.v1", f"thidua.{noun}.updated.v1")
    # Parents' events first: a reader of the topic meets a unit before its children.
    staged = await conn.execute(f"""
        INSERT INTO outbox (event_id, event_type, topic, partition_key, value, correlation_id)
        SELECT p.event_id, p.event_type, '{ORG.name}', convert_to(p.unit_id, 'UTF8'),
               {_event(data, f"p.{noun}_id", "p.district")}, $3::text
        FROM (SELECT *, CASE WHEN action = 'register' THEN '{registered_type}'
                             ELSE '{updated_type}' END AS event_type
              FROM import_plan WHERE action <> 'same' ORDER BY {order}) p""",
        source, time.isoformat().replace("+00:00", "Z"), correlation_id, actor_json)
    if staged != "INSERT 0 0":
        await conn.execute("SELECT pg_notify(current_schema() || '_outbox', '')")
    return Outcome(counts["registered"], counts["updated"], counts["unchanged"])

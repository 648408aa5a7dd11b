"""The checks of a bulk import that need the database, made over the whole staging table at
once: every row the database refuses goes to the temporary `import_bad` (row, column, code,
reason), and what each good row becomes to the temporary `import_plan` (`directory_import.py`
has the actions: `register`, `update`, `same`).

A row dated on or before an existing id's latest state that differs from it is refused
(`change_not_after_latest`), as the single command refuses it. Moving a unit under another
parent is a dated command of its own (`POST /units/{id}/changes`, with its cycle checks): an
import refuses it (`move_not_imported`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from .import_rows import Kind
from .org_repository import MAX_DEPTH

_MOVES_LOCK = "SELECT pg_advisory_xact_lock(hashtext('thidua-registration-unit-moves'))"

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
    # Each (unit, date) the rows name, beside the unit's state on that date. Per unit first (in
    # scope, the end of its last dissolution), then a hash join to the units' few states: a
    # million members name hundreds of thousands of pairs, too many for a lookup each. The
    # date is compared with the state's bounds, not by `valid @>`, which the planner would serve
    # by a probe of the GiST index per pair (30 µs each: 15 s for a million members).
    await conn.execute(f"""
        CREATE TEMP TABLE import_units_on ON COMMIT DROP AS
        WITH named AS MATERIALIZED (
            SELECT n.unit_id,
                   {_in_scope(scoped, 'n.unit_id')}
                   AND EXISTS (SELECT FROM units k WHERE k.unit_id = n.unit_id) AS in_scope,
                   d.dissolved_until
            FROM (SELECT DISTINCT unit_id FROM import_rows) n
            LEFT JOIN (SELECT unit_id, max(coalesce(upper(valid), 'infinity')) AS dissolved_until
                       FROM unit_states WHERE status = 'dissolved' GROUP BY unit_id) d
                   USING (unit_id)
        ), states AS MATERIALIZED (
            SELECT s.unit_id, s.effective_from, upper(s.valid) AS until, s.status, s.district_id
            FROM unit_states s JOIN named n USING (unit_id)
            WHERE NOT isempty(s.valid)
        )
        SELECT u.unit_id, u.effective_from, n.in_scope,
               coalesce(a.status = 'active' AND (n.dissolved_until IS NULL
                                                 OR n.dissolved_until <= u.effective_from),
                        false) AS active,
               a.district_id
        FROM (SELECT DISTINCT unit_id, effective_from FROM import_rows) u
        JOIN named n USING (unit_id)
        LEFT JOIN states a ON a.unit_id = u.unit_id AND a.effective_from <= u.effective_from
                          AND (a.until IS NULL OR a.until > u.effective_from)""")
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


# What a row of the plan becomes (its event id is made from its row number when recorded).
# Stored in row order: the events are written in that order, and a file listed by id (the
# usual export) then also gives the states' order, so those sorts find their input sorted.
_PLAN_OPEN = """CREATE TEMP TABLE import_plan ON COMMIT DROP AS
    SELECT i.*, CASE WHEN NOT i.known THEN 'register'
                     WHEN i.same_on_date OR cardinality(i.changed) = 0 THEN 'same'
                     ELSE 'update' END AS action
    FROM ("""
_PLAN_CLOSE = ") i ORDER BY row_no"


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



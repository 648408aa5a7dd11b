"""The org directory's SQL: units and members with dated states (`migrations/0004`).

A command runs in one transaction (`services.runtime.command_runs.run`): the idempotency key,
the locked unit or member, the period closed and the one opened, and the event in the outbox
commit together.
`OrgTree` reads the dated tree in the shape `Scope` expects of a directory, so commands check
scope against these tables — the synchronous truth — rather than a projection that fills later.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import date

import asyncpg

from contracts import CloudEvent
from contracts.events.org import MemberRegistered, MemberUpdated, UnitRegistered, UnitUpdated
from services.runtime import outbox
from services.runtime.directory import MemberOnDate, UnitOnDate

MAX_DEPTH = 32
# Taken by every command that sets a parent, so two concurrent moves cannot close a loop.
_MOVES_LOCK = "SELECT pg_advisory_xact_lock(hashtext('thidua-registration-unit-moves'))"

UNIT_COLUMNS = """unit_id, name, kind, parent_id, district_id, sector, member_count,
                  direct_worker_count, status, effective_from"""
MEMBER_COLUMNS = """member_id, unit_id, full_name, gender, direct_worker, union_officer,
                    job_title, status, effective_from"""

_UNIT_ON = f"SELECT {UNIT_COLUMNS} FROM unit_states WHERE unit_id = $1 AND valid @> $2::date"
_MEMBER_ON = (f"SELECT {MEMBER_COLUMNS} FROM member_states "
              "WHERE member_id = $1 AND valid @> $2::date")
_UNIT_LATEST = (f"SELECT {UNIT_COLUMNS} FROM unit_states WHERE unit_id = $1 "
                "ORDER BY effective_from DESC LIMIT 1")
_MEMBER_LATEST = (f"SELECT {MEMBER_COLUMNS} FROM member_states WHERE member_id = $1 "
                  "ORDER BY effective_from DESC LIMIT 1")
_ANCESTORS = f"""
    WITH RECURSIVE up (unit_id, parent_id, depth) AS (
        SELECT unit_id, parent_id, 0 FROM unit_states WHERE unit_id = $1 AND valid @> $2::date
        UNION ALL
        SELECT s.unit_id, s.parent_id, up.depth + 1
        FROM up JOIN unit_states AS s ON s.unit_id = up.parent_id AND s.valid @> $2::date
        WHERE up.depth < {MAX_DEPTH}
    )
    SELECT unit_id FROM up ORDER BY depth"""
# Every unit that is an ancestor of $1 on some day from $2 on (any of its later parents, and
# theirs): a unit found here may not become $1's child from $2.
_ANCESTORS_FROM = f"""
    WITH RECURSIVE up (unit_id, depth) AS (
        SELECT $1::text, 0
        UNION
        SELECT s.parent_id, up.depth + 1
        FROM up JOIN unit_states AS s
             ON s.unit_id = up.unit_id AND s.valid && daterange($2::date, NULL)
        WHERE s.parent_id IS NOT NULL AND up.depth < {MAX_DEPTH}
    )
    SELECT EXISTS (SELECT FROM up WHERE unit_id = $3)"""
_CHILDREN = f"""
    SELECT {UNIT_COLUMNS} FROM unit_states
    WHERE parent_id = $1 AND valid @> $2::date AND unit_id > $3
    ORDER BY unit_id LIMIT $4"""
_MEMBERS_OF = f"""
    SELECT {MEMBER_COLUMNS} FROM member_states
    WHERE unit_id = $1 AND valid @> $2::date AND member_id > $3
    ORDER BY member_id LIMIT $4"""

_DISSOLVED_FROM = """SELECT EXISTS (SELECT FROM unit_states WHERE unit_id = $1
                     AND status = 'dissolved' AND valid && daterange($2::date, NULL))"""
_CHILDREN_FROM = """SELECT EXISTS (SELECT FROM unit_states WHERE parent_id = $1
                    AND valid && daterange($2::date, NULL))"""
_CLOSE_UNIT = """UPDATE unit_states SET valid = daterange(effective_from, $2::date)
                 WHERE unit_id = $1 AND upper_inf(valid)"""
# A member's state ends where the next begins (`valid` follows `valid_until`, migration 0014).
_CLOSE_MEMBER = """UPDATE member_states SET valid_until = $2::date
                   WHERE member_id = $1 AND valid_until IS NULL"""
_INSERT_UNIT_STATE = """
    INSERT INTO unit_states (unit_id, effective_from, valid, parent_id, name, kind, district_id,
                             sector, member_count, direct_worker_count, status, event_id,
                             recorded_by)
    VALUES ($1, $2::date, daterange($2::date, NULL), $3, $4, $5, $6, $7, $8, $9, $10, $11,
            $12::jsonb)"""
_INSERT_MEMBER_STATE = """
    INSERT INTO member_states (member_id, effective_from, unit_id, full_name, gender,
                               direct_worker, union_officer, job_title, status, event_id,
                               recorded_by)
    VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)"""

def _unit(row) -> UnitOnDate | None:
    return None if row is None else UnitOnDate(*row.values())


def _member(row) -> MemberOnDate | None:
    return None if row is None else MemberOnDate(*row.values())


class OrgTree:
    """The dated tree of these tables, read through a pool or a transaction's connection; the
    directory `Scope` checks against (`unit`, `member`, `ancestors`, `inside`, `units_inside`)."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db

    async def unit(self, unit_id: str, on: date) -> UnitOnDate | None:
        return _unit(await self._db.fetchrow(_UNIT_ON, unit_id, on))

    async def member(self, member_id: str, on: date) -> MemberOnDate | None:
        return _member(await self._db.fetchrow(_MEMBER_ON, member_id, on))

    async def ancestors(self, unit_id: str, on: date) -> tuple[str, ...] | None:
        rows = await self._db.fetch(_ANCESTORS, unit_id, on)
        return tuple(row[0] for row in rows) or None

    async def inside(self, unit_id: str, ancestor_id: str, on: date) -> bool:
        chain = await self.ancestors(unit_id, on)
        return chain is not None and ancestor_id in chain

    async def units_inside(self, unit_ids: Iterable[str], ancestor_id: str, on: date) -> set[str]:
        return {u for u in dict.fromkeys(unit_ids) if await self.inside(u, ancestor_id, on)}

    async def children(self, unit_id: str, on: date, after: str, limit: int) -> list[UnitOnDate]:
        return [_unit(r) for r in await self._db.fetch(_CHILDREN, unit_id, on, after, limit)]

    async def members_of(self, unit_id: str, on: date, after: str,
                         limit: int) -> list[MemberOnDate]:
        return [_member(r) for r in await self._db.fetch(_MEMBERS_OF, unit_id, on, after, limit)]


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The id after which the page starts ("" for the first page); None when not a cursor."""
    if not cursor:
        return ""
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_",
                                validate=True).decode()
    except ValueError:
        return None


# --- writes, inside the command's transaction ---------------------------------------------------

async def claim_unit(conn: asyncpg.Connection, unit_id: str) -> bool:
    """Register the unit's id; False when it exists (or a concurrent command took it)."""
    return await conn.fetchval(
        "INSERT INTO units (unit_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true",
        unit_id) is not None


async def claim_member(conn: asyncpg.Connection, member_id: str) -> bool:
    return await conn.fetchval(
        "INSERT INTO members (member_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true",
        member_id) is not None


async def lock_unit(conn: asyncpg.Connection, unit_id: str) -> dict | None:
    """Lock the unit against concurrent changes; its latest state, or None if unknown."""
    if await conn.fetchval("SELECT true FROM units WHERE unit_id = $1 FOR UPDATE",
                           unit_id) is None:
        return None
    row = await conn.fetchrow(_UNIT_LATEST, unit_id)
    return None if row is None else dict(row)


async def lock_member(conn: asyncpg.Connection, member_id: str) -> dict | None:
    if await conn.fetchval("SELECT true FROM members WHERE member_id = $1 FOR UPDATE",
                           member_id) is None:
        return None
    row = await conn.fetchrow(_MEMBER_LATEST, member_id)
    return None if row is None else dict(row)


async def lock_for_move(conn: asyncpg.Connection) -> None:
    await conn.execute(_MOVES_LOCK)


async def active_from(conn: asyncpg.Connection, unit_id: str, day: date) -> UnitOnDate | None:
    """The unit's state on the day if it is active then and not dissolved on any later day
    already recorded (locked against a concurrent change)."""
    await conn.execute("SELECT FROM units WHERE unit_id = $1 FOR SHARE", unit_id)
    unit = _unit(await conn.fetchrow(_UNIT_ON, unit_id, day))
    if unit is None or unit.status != "active" or await conn.fetchval(_DISSOLVED_FROM, unit_id,
                                                                      day):
        return None
    return unit


async def has_children_from(conn: asyncpg.Connection, unit_id: str, day: date) -> bool:
    """Whether a unit lies under `unit_id` on any day from `day` on."""
    return await conn.fetchval(_CHILDREN_FROM, unit_id, day)


async def is_ancestor_from(conn: asyncpg.Connection, unit_id: str, of: str, day: date) -> bool:
    """Whether `unit_id` is `of` or lies above it on any day from `day` on."""
    return await conn.fetchval(_ANCESTORS_FROM, of, day, unit_id)


async def record_unit_state(conn: asyncpg.Connection,
                            event: CloudEvent[UnitRegistered] | CloudEvent[UnitUpdated]) -> None:
    """Close the unit's open period at the event's date, open its new state, stage the event."""
    u = event.data
    await conn.execute(_CLOSE_UNIT, u.unit_id, u.effective_from)
    await conn.execute(
        _INSERT_UNIT_STATE, u.unit_id, u.effective_from, u.parent_id, u.name, u.kind,
        u.district_id, u.sector, u.member_count, u.direct_worker_count, u.status, event.id,
        u.actor.model_dump_json() if u.actor else "null")
    await outbox.enqueue(conn, [event])


async def record_member_state(
        conn: asyncpg.Connection,
        event: CloudEvent[MemberRegistered] | CloudEvent[MemberUpdated]) -> None:
    m = event.data
    await conn.execute(_CLOSE_MEMBER, m.member_id, m.effective_from)
    await conn.execute(
        _INSERT_MEMBER_STATE, m.member_id, m.effective_from, m.unit_id, m.full_name, m.gender,
        m.direct_worker, m.union_officer, m.job_title, m.status, event.id,
        m.actor.model_dump_json() if m.actor else "null")
    await outbox.enqueue(conn, [event])

"""Works' SQL: registration, the approval with its event in one transaction, and pages."""

from __future__ import annotations

import json

import asyncpg

from contracts import CloudEvent
from contracts.events.initiatives import WorkRegistered
from services.runtime import outbox

from .works_domain import WorkAlreadyApproved, WorkExists

_COLUMNS = """work_id, campaign_id, phase_id, unit_id, name, value_vnd, occasion, occasion_date,
              status, registered_at, registered_by, plaque_level, approved_at, approved_by,
              approving_unit_id, event_id"""
_INSERT = """INSERT INTO works (work_id, campaign_id, phase_id, unit_id, name, value_vnd,
                                occasion, occasion_date, status, registered_at, registered_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'registered', now(), $9::jsonb)
             ON CONFLICT DO NOTHING RETURNING true"""
_APPROVE = """UPDATE works SET status = 'approved', plaque_level = $2, approved_at = $3,
                             approved_by = $4::jsonb, approving_unit_id = $5, event_id = $6
              WHERE work_id = $1"""
_PAGE = f"""SELECT {_COLUMNS} FROM works
            WHERE ($1::text IS NULL OR campaign_id = $1) AND ($2::text IS NULL OR phase_id = $2)
              AND ($3::text IS NULL OR unit_id = $3) AND ($4::text IS NULL OR status = $4)
              AND ($5::text[] IS NULL OR unit_id = ANY($5::text[]))
              AND work_id > $6
            ORDER BY work_id LIMIT $7"""


async def record_work(conn: asyncpg.Connection, work_id: str, command, actor: str) -> None:
    if not await conn.fetchval(_INSERT, work_id, command.campaign_id, command.phase_id,
                               command.unit_id, command.name, command.value_vnd,
                               command.occasion, command.occasion_date, actor):
        raise WorkExists(work_id)


def _row(row: asyncpg.Record) -> dict:
    out = dict(row)
    for name in ("registered_by", "approved_by"):
        out[name] = json.loads(out[name]) if out[name] else None
    return out


async def find(db: asyncpg.Pool | asyncpg.Connection, work_id: str,
               lock: bool = False) -> dict | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM works WHERE work_id = $1"
                            + (" FOR UPDATE" if lock else ""), work_id)
    return None if row is None else _row(row)


async def record_approval(conn: asyncpg.Connection, event: CloudEvent[WorkRegistered],
                          approving_unit_id: str) -> None:
    """Inside the transaction that locked the work (`find(..., lock=True)`)."""
    w = event.data
    current = await find(conn, w.work_id, lock=True)
    if current["status"] == "approved":
        raise WorkAlreadyApproved(w.work_id)
    await conn.execute(_APPROVE, w.work_id, w.plaque_level, w.registered_at,
                       w.actor.model_dump_json(), approving_unit_id, event.id)
    await outbox.enqueue(conn, [event])


async def page(pool: asyncpg.Pool, *, campaign: str | None, phase: str | None,
               unit: str | None, state: str | None, among: list[str] | None, after: str,
               limit: int) -> list[dict]:
    rows = await pool.fetch(_PAGE, campaign, phase, unit, state, among, after, limit)
    return [_row(r) for r in rows]

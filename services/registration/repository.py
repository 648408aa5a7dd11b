"""All of registration's SQL: each command's change and its event commit together."""

from __future__ import annotations

import json

import asyncpg

from contracts import CloudEvent
from contracts.events.initiatives import InitiativeSubmitted
from services.runtime import outbox

from .domain import InitiativeAlreadySubmitted


async def record_initiative(pool: asyncpg.Pool, event: CloudEvent[InitiativeSubmitted]) -> None:
    data = event.data
    async with pool.acquire() as conn, conn.transaction():
        inserted = await conn.fetchval(
            """INSERT INTO initiatives (initiative_id, campaign_id, phase_id, unit_id, district,
                   title, field, authors, claimed_benefit_vnd, submitted_at, event_id,
                   correlation_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12)
               ON CONFLICT (initiative_id) DO NOTHING
               RETURNING initiative_id""",
            data.initiative_id,
            data.campaign_id,
            data.phase_id,
            data.unit_id,
            event.district,
            data.title,
            data.field,
            json.dumps([a.model_dump() for a in data.authors], ensure_ascii=False),
            data.claimed_benefit_vnd,
            data.submitted_at,
            event.id,
            event.correlationid,
        )
        if inserted is None:
            raise InitiativeAlreadySubmitted(data.initiative_id)
        await outbox.enqueue(conn, [event])


async def find_initiative(pool: asyncpg.Pool, initiative_id: str) -> dict | None:
    row = await pool.fetchrow("SELECT * FROM initiatives WHERE initiative_id = $1", initiative_id)
    if row is None:
        return None
    out = dict(row)
    out["authors"] = json.loads(out["authors"])
    return out

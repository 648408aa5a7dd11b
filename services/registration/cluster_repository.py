"""Clusters' SQL: the cluster, its units and its event in one transaction; pages to read."""

from __future__ import annotations

import json

import asyncpg

from contracts import CloudEvent
from contracts.events.org import ClusterFormed
from services.runtime import outbox

from .cluster_domain import ClusterExists, InAnotherCluster

_TAKEN = """SELECT unit_id, cluster_id FROM cluster_units
            WHERE organizer_unit_id = $1 AND year = $2 AND unit_id = ANY($3::text[])
            ORDER BY unit_id LIMIT 1"""
_INSERT = """INSERT INTO clusters (cluster_id, name, organizer_unit_id, year, effective_from,
                                   member_unit_ids, formed_at, event_id, formed_by)
             VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9::jsonb)
             ON CONFLICT DO NOTHING RETURNING true"""
_INSERT_UNITS = """INSERT INTO cluster_units (cluster_id, unit_id, organizer_unit_id, year)
                   SELECT $1, unnest($2::text[]), $3, $4"""
_PAGE = """SELECT cluster_id, name, organizer_unit_id, year, effective_from, member_unit_ids,
                  formed_at, event_id, formed_by
           FROM clusters
           WHERE ($1::int IS NULL OR year = $1) AND ($2::text IS NULL OR organizer_unit_id = $2)
             AND ($3::text IS NULL OR $3 = ANY(member_unit_ids))
             AND ($4::text[] IS NULL OR organizer_unit_id = ANY($4::text[]))
             AND cluster_id > $5
           ORDER BY cluster_id LIMIT $6"""


async def record_cluster(conn: asyncpg.Connection, event: CloudEvent[ClusterFormed]) -> None:
    c = event.data
    # Clusters of one organiser and year are formed one at a time, so the check below and
    # the insert see the same units.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('thidua-clusters:' || $1 || $2))",
                       c.organizer_unit_id, str(c.year))
    taken = await conn.fetchrow(_TAKEN, c.organizer_unit_id, c.year, c.member_unit_ids)
    if taken is not None:
        raise InAnotherCluster(taken["unit_id"], taken["cluster_id"], c.year)
    if not await conn.fetchval(_INSERT, c.cluster_id, c.name, c.organizer_unit_id, c.year,
                               c.effective_from, c.member_unit_ids, c.formed_at, event.id,
                               c.actor.model_dump_json()):
        raise ClusterExists(c.cluster_id)
    await conn.execute(_INSERT_UNITS, c.cluster_id, c.member_unit_ids, c.organizer_unit_id,
                       c.year)
    await outbox.enqueue(conn, [event])


def _row(row: asyncpg.Record) -> dict:
    out = dict(row)
    out["formed_by"] = json.loads(out["formed_by"])
    return out


async def page(pool: asyncpg.Pool, *, year: int | None, organizer: str | None,
               unit: str | None, among: list[str] | None, after: str, limit: int) -> list[dict]:
    return [_row(r) for r in await pool.fetch(_PAGE, year, organizer, unit, among, after, limit)]


async def find(pool: asyncpg.Pool, cluster_id: str) -> dict | None:
    row = await pool.fetchrow(_PAGE.replace("cluster_id > $5", "cluster_id = $5"),
                              None, None, None, None, cluster_id, 1)
    return None if row is None else _row(row)

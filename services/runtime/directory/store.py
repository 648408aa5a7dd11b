"""The directory's writes: one set-based statement per event type and batch.

Units and members are effective-dated states (`0003_directory.sql`). Writing a batch of states
is one statement: it upserts each (id, effective_from) and, in the same statement, recomputes
`valid` of every row of the ids it touches from a `lead()` window over their dates, old and
new, so a state arriving before or after its neighbours — a backdated correction after a
future-dated move — ends in the same rows. An (id, effective_from) already holding a state
recorded later (the event's `time`) keeps it: a redelivered or replayed older event changes
nothing.

The functions take a connection: the consumer's batch transaction, or any other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import asyncpg

from contracts import CloudEvent
from contracts.events.org import (
    ClusterFormed,
    MemberRegistered,
    MemberUpdated,
    UnitRegistered,
    UnitUpdated,
)

EventT = TypeVar("EventT", bound=CloudEvent)


def latest_by_key(events: Sequence[EventT], key: Callable[[EventT], Hashable]) -> list[EventT]:
    """One event per key, as the table would keep it had they come one batch each: the latest
    recorded (`time`), the later in the batch on a tie. (A statement cannot write a row twice.)"""
    kept: dict[Hashable, EventT] = {}
    for event in events:
        k = key(event)
        held = kept.get(k)
        if held is None or event.time >= held.time:
            kept[k] = event
    return list(kept.values())


def _dated_upsert(table: str, key: str, columns: Sequence[tuple[str, str]]) -> str:
    """The statement writing a batch of dated states of `table` (rows per (key, effective_from)).

    `columns` are the state's (name, type) after the key and effective_from; the statement's
    parameters are arrays in that order: $1 keys, $2 dates, then each column, `recorded_at` last.
    """
    names = [name for name, _ in columns]
    typed = ", ".join(f"${n}::{pg_type}[]" for n, (_, pg_type) in enumerate(columns, start=3))
    state = ", ".join(names)
    return f"""
    WITH incoming AS (
        SELECT * FROM unnest($1::text[], $2::date[], {typed})
                      AS i({key}, effective_from, {state})
    ), timeline AS (  -- every date of the touched ids, known or new
        SELECT {key}, effective_from FROM incoming
        UNION
        SELECT {key}, effective_from FROM {table}
        WHERE {key} IN (SELECT {key} FROM incoming)
    ), ranged AS (
        SELECT {key}, effective_from,
               daterange(effective_from,
                         lead(effective_from) OVER (PARTITION BY {key} ORDER BY effective_from))
                   AS valid
        FROM timeline
    ), neighbours AS (  -- known dates of the touched ids whose range a new date shortens
        UPDATE {table} AS t SET valid = r.valid
        FROM ranged AS r
        WHERE t.{key} = r.{key} AND t.effective_from = r.effective_from AND t.valid <> r.valid
          AND NOT EXISTS (SELECT FROM incoming AS i
                          WHERE i.{key} = t.{key} AND i.effective_from = t.effective_from)
    )
    INSERT INTO {table} AS t ({key}, effective_from, valid, {state})
    SELECT i.{key}, i.effective_from, r.valid, {", ".join(f"i.{n}" for n in names)}
    FROM incoming AS i JOIN ranged AS r USING ({key}, effective_from)
    ON CONFLICT ({key}, effective_from) DO UPDATE
       SET valid = excluded.valid, {", ".join(f"{n} = excluded.{n}" for n in names)}
     WHERE excluded.recorded_at >= t.recorded_at
       AND (t.valid, {", ".join(f"t.{n}" for n in names)})
           IS DISTINCT FROM (excluded.valid, {", ".join(f"excluded.{n}" for n in names)})"""


UPSERT_UNITS = _dated_upsert("directory_units", "unit_id", [
    ("parent_id", "text"), ("name", "text"), ("kind", "text"), ("district_id", "text"),
    ("sector", "text"), ("member_count", "integer"), ("direct_worker_count", "integer"),
    ("status", "text"), ("recorded_at", "timestamptz"),
])

UPSERT_MEMBERS = _dated_upsert("directory_members", "member_id", [
    ("unit_id", "text"), ("full_name", "text"), ("gender", "text"), ("direct_worker", "boolean"),
    ("union_officer", "boolean"), ("job_title", "text"), ("status", "text"),
    ("recorded_at", "timestamptz"),
])

UPSERT_CLUSTERS = """
    INSERT INTO directory_clusters AS t (cluster_id, name, organizer_unit_id, member_unit_ids,
                                         year, effective_from, recorded_at)
    SELECT i.cluster_id, i.name, i.organizer_unit_id,
           -- unnest flattens arrays of arrays, so each cluster's units travel as a JSON array
           ARRAY(SELECT m.unit_id
                 FROM jsonb_array_elements_text(i.member_unit_ids::jsonb)
                      WITH ORDINALITY AS m(unit_id, n)
                 ORDER BY m.n),
           i.year, i.effective_from, i.recorded_at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::date[],
                $7::timestamptz[])
         AS i(cluster_id, name, organizer_unit_id, member_unit_ids, year, effective_from,
              recorded_at)
    ON CONFLICT (cluster_id) DO UPDATE
       SET name = excluded.name, organizer_unit_id = excluded.organizer_unit_id,
           member_unit_ids = excluded.member_unit_ids, year = excluded.year,
           effective_from = excluded.effective_from, recorded_at = excluded.recorded_at
     WHERE excluded.recorded_at >= t.recorded_at
       AND (t.name, t.organizer_unit_id, t.member_unit_ids, t.year, t.effective_from,
            t.recorded_at)
           IS DISTINCT FROM (excluded.name, excluded.organizer_unit_id, excluded.member_unit_ids,
                             excluded.year, excluded.effective_from, excluded.recorded_at)"""

async def record_units(
    conn: asyncpg.Connection,
    events: Sequence[CloudEvent[UnitRegistered] | CloudEvent[UnitUpdated]],
) -> None:
    """Write each event's unit state from its `effective_from` on."""
    kept = latest_by_key(events, lambda e: (e.data.unit_id, e.data.effective_from))
    if not kept:
        return
    units = [e.data for e in kept]
    await conn.execute(
        UPSERT_UNITS,
        [u.unit_id for u in units], [u.effective_from for u in units],
        [u.parent_id for u in units], [u.name for u in units], [u.kind for u in units],
        [u.district_id for u in units], [u.sector for u in units],
        [u.member_count for u in units], [u.direct_worker_count for u in units],
        [u.status for u in units], [e.time for e in kept],
    )


async def record_members(
    conn: asyncpg.Connection,
    events: Sequence[CloudEvent[MemberRegistered] | CloudEvent[MemberUpdated]],
) -> None:
    """Write each event's member state from its `effective_from` on."""
    kept = latest_by_key(events, lambda e: (e.data.member_id, e.data.effective_from))
    if not kept:
        return
    members = [e.data for e in kept]
    await conn.execute(
        UPSERT_MEMBERS,
        [m.member_id for m in members], [m.effective_from for m in members],
        [m.unit_id for m in members], [m.full_name for m in members],
        [m.gender for m in members], [m.direct_worker for m in members],
        [m.union_officer for m in members], [m.job_title for m in members],
        [m.status for m in members], [e.time for e in kept],
    )


async def record_clusters(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[ClusterFormed]]
) -> None:
    """Write each cluster as its latest recorded `cluster.formed` says."""
    kept = latest_by_key(events, lambda e: e.data.cluster_id)
    if not kept:
        return
    clusters = [e.data for e in kept]
    await conn.execute(
        UPSERT_CLUSTERS,
        [c.cluster_id for c in clusters], [c.name for c in clusters],
        [c.organizer_unit_id for c in clusters],
        [json.dumps(c.member_unit_ids) for c in clusters],
        [c.year for c in clusters], [c.effective_from for c in clusters],
        [e.time for e in kept],
    )

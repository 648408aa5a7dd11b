"""Participation's SQL: registrations, pledges with their signatories, and results, each with
its events in the command's transaction; pages filtered in SQL by the caller's units."""

from __future__ import annotations

import json

import asyncpg

from contracts import CloudEvent
from contracts.events.participation import (
    EmulationRegistered,
    PledgeResultReported,
    PledgeSigned,
)
from services.runtime import outbox

from .participation_domain import (
    AlreadyRegistered,
    PledgeExists,
    RegistrationExists,
    ResultsAlreadyReported,
)

_INSERT_REGISTRATION = """
    INSERT INTO emulation_registrations (registration_id, campaign_id, phase_id, unit_id,
        subject_kind, subject_id, titles, target_level, registered_at, event_id, registered_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10, $11::jsonb)"""
_INSERT_PLEDGE = """
    INSERT INTO pledges (pledge_id, campaign_id, phase_id, cluster_id, unit_ids, targets,
                         signed_on, recorded_at, recorded_by)
    VALUES ($1, $2, $3, $4, $5::text[], $6::jsonb, $7, now(), $8::jsonb)
    ON CONFLICT DO NOTHING RETURNING true"""
_INSERT_SIGNATORIES = """INSERT INTO pledge_signatories (pledge_id, unit_id, event_id)
                         SELECT $1, * FROM unnest($2::text[], $3::text[])"""
_INSERT_RESULTS = """
    INSERT INTO pledge_results (pledge_id, unit_id, results, reported_at, event_id, reported_by)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb)"""
_PLEDGE = """SELECT pledge_id, campaign_id, phase_id, cluster_id, unit_ids, targets, signed_on,
                    recorded_at, recorded_by
             FROM pledges WHERE pledge_id = $1"""
_RESULTS_OF = """SELECT unit_id, results, reported_at, event_id, reported_by
                 FROM pledge_results WHERE pledge_id = $1 ORDER BY unit_id"""
_REGISTRATIONS = """
    SELECT registration_id, campaign_id, phase_id, unit_id, subject_kind, subject_id, titles,
           target_level, registered_at, event_id, registered_by
    FROM emulation_registrations
    WHERE ($1::text IS NULL OR campaign_id = $1) AND ($2::text IS NULL OR phase_id = $2)
      AND ($3::text IS NULL OR unit_id = $3) AND ($4::text IS NULL OR subject_kind = $4)
      AND ($5::text[] IS NULL OR unit_id = ANY($5::text[]))
      AND ($6::text IS NULL OR (subject_kind = 'member' AND subject_id = $6))
      AND registration_id > $7
    ORDER BY registration_id LIMIT $8"""
_PLEDGES = """
    SELECT pledge_id, campaign_id, phase_id, cluster_id, unit_ids, targets, signed_on,
           recorded_at, recorded_by
    FROM pledges
    WHERE ($1::text IS NULL OR campaign_id = $1) AND ($2::text IS NULL OR phase_id = $2)
      AND ($3::text IS NULL OR cluster_id = $3) AND ($4::text IS NULL OR $4 = ANY(unit_ids))
      AND ($5::text[] IS NULL OR unit_ids && $5::text[])
      AND pledge_id > $6
    ORDER BY pledge_id LIMIT $7"""


def _actor(data) -> str:
    return data.actor.model_dump_json()


async def record_registration(conn: asyncpg.Connection,
                              event: CloudEvent[EmulationRegistered]) -> None:
    r = event.data
    try:
        await conn.execute(_INSERT_REGISTRATION, r.registration_id, r.campaign_id, r.phase_id,
                           r.unit_id, r.subject_kind, r.subject_id, list(r.titles),
                           r.target_level, r.registered_at, event.id, _actor(r))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "emulation_registrations_pkey":
            raise RegistrationExists(r.registration_id) from None
        raise AlreadyRegistered(r.subject_kind, r.subject_id, r.phase_id) from None
    await outbox.enqueue(conn, [event])


async def record_pledge(conn: asyncpg.Connection,
                        events: list[CloudEvent[PledgeSigned]]) -> None:
    first = events[0].data
    units = [e.data.unit_id for e in events]
    targets = json.dumps([t.model_dump(mode="json") for t in first.targets], ensure_ascii=False)
    if not await conn.fetchval(_INSERT_PLEDGE, first.pledge_id, first.campaign_id,
                               first.phase_id, first.cluster_id, units, targets,
                               first.signed_on, _actor(first)):
        raise PledgeExists(first.pledge_id)
    await conn.execute(_INSERT_SIGNATORIES, first.pledge_id, units, [e.id for e in events])
    await outbox.enqueue(conn, events)


async def record_results(conn: asyncpg.Connection,
                         event: CloudEvent[PledgeResultReported]) -> None:
    r = event.data
    results = json.dumps([x.model_dump(mode="json") for x in r.results])
    try:
        await conn.execute(_INSERT_RESULTS, r.pledge_id, r.unit_id, results, r.reported_at,
                           event.id, _actor(r))
    except asyncpg.UniqueViolationError:
        raise ResultsAlreadyReported(r.pledge_id, r.unit_id) from None
    await outbox.enqueue(conn, [event])


def _pledge(row: asyncpg.Record) -> dict:
    out = dict(row)
    out["targets"] = json.loads(out["targets"])
    out["recorded_by"] = json.loads(out["recorded_by"])
    return out


async def find_pledge(db: asyncpg.Pool | asyncpg.Connection, pledge_id: str) -> dict | None:
    row = await db.fetchrow(_PLEDGE, pledge_id)
    return None if row is None else _pledge(row)


async def results_of(pool: asyncpg.Pool, pledge_id: str) -> list[dict]:
    out = []
    for row in await pool.fetch(_RESULTS_OF, pledge_id):
        item = dict(row)
        item["results"] = json.loads(item["results"])
        item["reported_by"] = json.loads(item["reported_by"])
        out.append(item)
    return out


async def registrations(pool: asyncpg.Pool, *, campaign: str | None, phase: str | None,
                        unit: str | None, kind: str | None, among: list[str] | None,
                        member: str | None, after: str, limit: int) -> list[dict]:
    rows = await pool.fetch(_REGISTRATIONS, campaign, phase, unit, kind, among, member, after,
                            limit)
    out = []
    for row in rows:
        item = dict(row)
        item["registered_by"] = json.loads(item["registered_by"])
        out.append(item)
    return out


async def pledges(pool: asyncpg.Pool, *, campaign: str | None, phase: str | None,
                  cluster: str | None, unit: str | None, among: list[str] | None, after: str,
                  limit: int) -> list[dict]:
    rows = await pool.fetch(_PLEDGES, campaign, phase, cluster, unit, among, after, limit)
    return [_pledge(r) for r in rows]

"""All of registration's SQL: each command's change and its event commit together."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from contracts import CloudEvent
from contracts.events.initiatives import InitiativeSubmitted
from services.runtime import outbox
from services.runtime.command_runs import kept_answer
from services.runtime.idempotency import RETENTION, KeptAnswer

from .campaign_domain import PhaseClosed
from .domain import AlreadyReviewed, InitiativeAlreadySubmitted

# One statement, so one round trip and its own transaction: lock the phase against its close
# (FOR KEY SHARE; the close's FOR UPDATE waits for it) and go on only while it is open, find
# earlier initiatives with a similar title (same campaign, or submitted before this year), build
# the answer with them, claim the idempotency key (or take over an expired one), insert the
# initiative with its candidates only if the key was claimed or none was given, stage its event
# only if the initiative was inserted, wake the relay. A second submission of an initiative id
# fails the whole statement (unique violation), key included, so a refused command keeps no
# answer. Each command also prunes two expired keys: keys go as fast as they come, with no
# sweeper to run.
# The GiST trigram index (migration 0013) hands earlier titles over nearest first, so the search
# reads only the ten it keeps, however many look alike; the nearest ten less those under the
# threshold are the (at most ten) most similar at or above it.
_SUBMIT = """
WITH phase AS (
    SELECT closed_at IS NULL AS open FROM campaign_phases
    WHERE campaign_id = $2::text AND phase_id = $3::text FOR KEY SHARE
), candidates AS (
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'initiative_id', c.initiative_id, 'title', c.title,
               'similarity', round(c.score::numeric, 3)) ORDER BY c.score DESC, c.initiative_id),
           '[]'::jsonb) AS found
    FROM (SELECT initiative_id, title,
                 public.similarity(title_key, initiative_title_key($6::text)) AS score
          FROM initiatives
          WHERE (campaign_id = $2::text OR submitted_at < $19::timestamptz)
            AND initiative_id <> $1::text
          ORDER BY title_key OPERATOR(public.<->) initiative_title_key($6::text)
          LIMIT {limit}) AS c
    WHERE c.score >= $20::float8
), answer AS (
    SELECT convert_to(($16::jsonb || jsonb_build_object('duplicate_candidates', found))::text,
                      'UTF8') AS body, found
    FROM candidates
), claimed_key AS (
    INSERT INTO idempotency_keys (idempotency_key, fingerprint, status_code, response, expires_at)
    SELECT $13::text, $14::text, $15::smallint, (SELECT body FROM answer), now() + $17::interval
    WHERE $13::text IS NOT NULL AND EXISTS (SELECT FROM phase WHERE open)
    ON CONFLICT (idempotency_key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, status_code = EXCLUDED.status_code,
            response = EXCLUDED.response, created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at <= now()
    RETURNING 1
), pruned_keys AS (
    DELETE FROM idempotency_keys WHERE idempotency_key IN (
        SELECT idempotency_key FROM idempotency_keys
        WHERE expires_at <= now() AND idempotency_key IS DISTINCT FROM $13::text
        ORDER BY expires_at LIMIT 2 FOR UPDATE SKIP LOCKED)
), initiative AS (
    INSERT INTO initiatives (initiative_id, campaign_id, phase_id, unit_id, district, title,
                             field, authors, claimed_benefit_vnd, submitted_at, event_id,
                             correlation_id, submitted_by, duplicate_candidates)
    SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::jsonb,
           $9::bigint, $10::timestamptz, $11::text, $12::text, $18::jsonb, answer.found
    FROM answer
    WHERE ($13::text IS NULL OR EXISTS (SELECT FROM claimed_key))
      AND EXISTS (SELECT FROM phase WHERE open)
    RETURNING 1
), {outbox}
SELECT EXISTS (SELECT FROM initiative) AS recorded, (SELECT body FROM answer) AS body,
       EXISTS (SELECT FROM phase WHERE open) AS open, {wake}
"""
# At most this many candidates are kept, the most similar first.
MAX_CANDIDATES = 10


async def record_initiative(
    pool: asyncpg.Pool, event: CloudEvent[InitiativeSubmitted], answer_head: bytes,
    key: str | None, fingerprint: str | None, *, threshold: float, earlier_than: datetime,
) -> tuple[bytes, KeptAnswer | None]:
    """Store the initiative, its duplicate candidates and its event, and the answer (`answer_head`
    with the candidates) under `key`. Returns (the answer, None); or, if the key was already
    used, stores nothing and returns (b"", the answer kept under it)."""
    data = event.data
    staged = outbox.staging([event], first_param=21, only_if="EXISTS (SELECT FROM initiative)")
    statement = _SUBMIT.format(outbox=staged.cte, wake=staged.wake, limit=MAX_CANDIDATES)
    args = (
        data.initiative_id, data.campaign_id, data.phase_id, data.unit_id, event.district,
        data.title, data.field,
        json.dumps([a.model_dump() for a in data.authors], ensure_ascii=False),
        data.claimed_benefit_vnd, data.submitted_at, event.id, event.correlationid,
        key, fingerprint, 202, answer_head.decode(),
        RETENTION, data.actor.model_dump_json() if data.actor else None,
        earlier_than, threshold, *staged.args,
    )
    async with pool.acquire() as conn:
        # The kept answer can expire between the two statements; then the key is free again.
        for _ in range(3):
            try:
                recorded, body, open_, _woken = await conn.fetchrow(statement, *args)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "initiatives_pkey":
                    raise InitiativeAlreadySubmitted(data.initiative_id) from exc
                raise
            if not open_:
                raise PhaseClosed(data.campaign_id, data.phase_id)
            if recorded or key is None:
                return bytes(body), None
            kept = await kept_answer(conn, key)
            if kept is not None:
                return b"", kept
    raise RuntimeError(f"idempotency key {key!r} neither claimed nor found")


async def find_initiative(pool: asyncpg.Pool, initiative_id: str) -> dict | None:
    row = await pool.fetchrow("SELECT * FROM initiatives WHERE initiative_id = $1", initiative_id)
    if row is None:
        return None
    out = dict(row)
    out["authors"] = json.loads(out["authors"])
    out["submitted_by"] = json.loads(out["submitted_by"]) if out["submitted_by"] else None
    out["duplicate_candidates"] = json.loads(out["duplicate_candidates"])
    return out


_LOCK_INITIATIVE = """SELECT initiative_id, campaign_id, phase_id, unit_id, claimed_benefit_vnd,
                             submitted_at, authors
                      FROM initiatives WHERE initiative_id = $1 FOR UPDATE"""
_REVIEWS_OF = """SELECT level, outcome, grade, recognised_benefit_vnd, reason_for_higher_benefit,
                        comment, council_unit_id, reviewed_at, event_id, reviewed_by
                 FROM initiative_reviews WHERE initiative_id = $1"""
_LEVEL_ORDER = ("ORDER BY array_position(ARRAY['grassroots','district','city','national'], "
                "level)")
_INSERT_REVIEW = """
WITH review AS (
    INSERT INTO initiative_reviews (initiative_id, level, outcome, grade, recognised_benefit_vnd,
                                    reason_for_higher_benefit, comment, council_unit_id,
                                    reviewed_at, event_id, reviewed_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
    RETURNING 1
), {outbox}
SELECT {wake}"""


async def lock_for_review(conn: asyncpg.Connection, initiative_id: str
                          ) -> tuple[dict | None, list[dict]]:
    """The initiative, locked until the transaction ends (so reviews of it are decided one at
    a time), and its reviews so far."""
    row = await conn.fetchrow(_LOCK_INITIATIVE, initiative_id)
    if row is None:
        return None, []
    found = dict(row)
    found["authors"] = json.loads(found["authors"])
    return found, [dict(r) for r in await conn.fetch(_REVIEWS_OF, initiative_id)]


async def record_review(conn: asyncpg.Connection, event: CloudEvent, command) -> None:
    """Store the review and stage its event, in the caller's transaction."""
    data = event.data
    staged = outbox.staging([event], first_param=12)
    try:
        await conn.fetchval(
            _INSERT_REVIEW.format(outbox=staged.cte, wake=staged.wake),
            data.initiative_id, data.level, data.outcome, data.grade,
            data.recognised_benefit_vnd, command.reason_for_higher_benefit, command.comment,
            data.council_unit_id, data.reviewed_at, event.id, data.actor.model_dump_json(),
            *staged.args)
    except asyncpg.UniqueViolationError as exc:
        raise AlreadyReviewed(data.initiative_id, data.level) from exc


async def reviews_of(pool: asyncpg.Pool, initiative_id: str) -> list[dict]:
    rows = await pool.fetch(f"{_REVIEWS_OF} {_LEVEL_ORDER}", initiative_id)
    out = []
    for row in rows:
        review = dict(row)
        review["reviewed_by"] = json.loads(review["reviewed_by"])
        out.append(review)
    return out

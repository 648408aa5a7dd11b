"""The SQL of deciding proposals, inside the command's transaction.

`lock` takes the proposal's row lock first: two officials approving the same proposal at the
same moment are serialised there, and the second finds it decided. The consumed initiatives'
primary key is the last guard of "one achievement, one award".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from contracts.events.rules import AwardRules


@dataclass(frozen=True)
class Locked:
    row: asyncpg.Record
    rules: AwardRules
    unanswered: int
    upheld: int
    statuses_by_level: dict[str, str]  # the subject's same title in the round, per level


async def lock(conn: asyncpg.Connection, proposal_id: str) -> Locked | None:
    row = await conn.fetchrow(
        """SELECT p.*, c.awards::text AS rules FROM proposals p
           LEFT JOIN campaigns c USING (campaign_id)
           WHERE p.proposal_id = $1 FOR UPDATE OF p""", proposal_id)
    if row is None:
        return None
    counts = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE answer IS NULL) AS unanswered,
                  count(*) FILTER (WHERE upheld) AS upheld,
                  (SELECT jsonb_object_agg(level, status) FROM proposals q
                   WHERE q.campaign_id = $2 AND q.phase_id = $3 AND q.title = $4
                     AND q.subject_kind = $5 AND q.subject_id = $6) AS levels
           FROM objections WHERE proposal_id = $1""",
        proposal_id, row["campaign_id"], row["phase_id"], row["title"], row["subject_kind"],
        row["subject_id"])
    rules = AwardRules.model_validate_json(row["rules"]) if row["rules"] else AwardRules()
    return Locked(row, rules, counts["unanswered"], counts["upheld"],
                  json.loads(counts["levels"] or "{}"))


async def reject(conn: asyncpg.Connection, proposal_id: str, reason: str, actor: dict,
                 now: datetime) -> None:
    await conn.execute(
        """UPDATE proposals SET status = 'rejected', decided_at = $2, decided_by = $3,
                                decision_reason = $4 WHERE proposal_id = $1""",
        proposal_id, now, json.dumps(actor), reason)


async def open_decision(conn: asyncpg.Connection, issuer: str, issuer_name: str,
                        district: str | None, year: int, day: date, signatory: str,
                        actor: dict, now: datetime, number_format: str) -> tuple[str, str]:
    """A new decision of the issuer, numbered next in its year (a counter row per issuer and
    year: concurrent decisions take numbers one after the other, none twice)."""
    number = await conn.fetchval(
        """INSERT INTO decision_counters AS d (issuer_unit_id, year, last_number)
           VALUES ($1, $2, 1)
           ON CONFLICT (issuer_unit_id, year) DO UPDATE SET last_number = d.last_number + 1
           RETURNING last_number""", issuer, year)
    decision_id = f"dec-{uuid.uuid4().hex[:16]}"
    text = number_format.format(number=number, year=year, issuer=issuer)
    await conn.execute(
        """INSERT INTO decisions (decision_id, decision_number, issuer_unit_id, issuer_name,
               district_id, year, decision_date, signatory, recipient_count, total_cash_vnd,
               recorded_by, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, $9, $10)""",
        decision_id, text, issuer, issuer_name, district, year, day, signatory,
        json.dumps(actor), now)
    return decision_id, text


async def grant(conn: asyncpg.Connection, decision_id: str, decision_number: str,
                issuer_name: str, p: asyncpg.Record, unit_parent_id: str | None,
                district: str | None, cash: int, actor: dict, now: datetime) -> str | None:
    """Record one recipient: the award, its consumed initiatives, the title history, the
    proposal approved. None when an initiative it rests on was already consumed."""
    award_id = f"aw-{uuid.uuid4().hex[:16]}"
    await conn.execute(
        """INSERT INTO awards_granted (award_id, decision_id, proposal_id, campaign_id,
               phase_id, year, title, level, subject_kind, subject_id, subject_name, unit_id,
               unit_parent_id, district_id, cash_amount_vnd, granted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)""",
        award_id, decision_id, p["proposal_id"], p["campaign_id"], p["phase_id"], p["year"],
        p["title"], p["level"], p["subject_kind"], p["subject_id"], p["subject_name"],
        p["unit_id"], unit_parent_id, district, cash, now)
    if p["initiative_ids"]:
        consumed = await conn.fetch(
            """INSERT INTO consumed_initiatives (initiative_id, award_id, title, level)
               SELECT i, $2, $3, $4 FROM unnest($1::text[]) AS i
               ON CONFLICT DO NOTHING RETURNING initiative_id""",
            p["initiative_ids"], award_id, p["title"], p["level"])
        if len(consumed) < len(p["initiative_ids"]):
            return None
    await conn.execute(
        """INSERT INTO title_history (subject_kind, subject_id, title, level, year,
               decision_number, issuer_name, unit_id, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'decision') ON CONFLICT DO NOTHING""",
        p["subject_kind"], p["subject_id"], p["title"], p["level"], p["year"],
        decision_number, issuer_name, p["unit_id"])
    await conn.execute(
        """UPDATE proposals SET status = 'approved', decided_at = $2, decided_by = $3,
                                decision_id = $4 WHERE proposal_id = $1""",
        p["proposal_id"], now, json.dumps(actor), decision_id)
    await conn.execute(
        """UPDATE decisions SET recipient_count = recipient_count + 1,
                                total_cash_vnd = total_cash_vnd + $2 WHERE decision_id = $1""",
        decision_id, cash)
    return award_id


async def already_consumed(conn: asyncpg.Connection, ids: Sequence[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT initiative_id FROM consumed_initiatives WHERE initiative_id = ANY($1::text[])",
        list(ids))
    return [r[0] for r in rows]


async def add_objection(conn: asyncpg.Connection, proposal_id: str, text: str, actor: dict,
                        now: datetime) -> str:
    objection_id = f"obj-{uuid.uuid4().hex[:16]}"
    await conn.execute(
        """INSERT INTO objections (objection_id, proposal_id, text, raised_by, raised_at)
           VALUES ($1, $2, $3, $4, $5)""", objection_id, proposal_id, text, json.dumps(actor), now)
    return objection_id


async def answer_objection(conn: asyncpg.Connection, proposal_id: str, objection_id: str,
                           answer: str, upheld: bool, actor: dict, now: datetime) -> str | None:
    """Answer it; the previous answer's state: None (no such objection), 'open' or 'answered'."""
    row = await conn.fetchrow(
        """SELECT answer IS NOT NULL AS answered FROM objections
           WHERE objection_id = $1 AND proposal_id = $2 FOR UPDATE""", objection_id, proposal_id)
    if row is None:
        return None
    if row["answered"]:
        return "answered"
    await conn.execute(
        """UPDATE objections SET answer = $2, upheld = $3, answered_by = $4, answered_at = $5
           WHERE objection_id = $1""", objection_id, answer, upheld, json.dumps(actor), now)
    return "open"

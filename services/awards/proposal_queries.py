"""Reading proposals within the caller's scope: one query per page, filtered in SQL by the
units the caller sees (their subtree today; a member, their own unit's published list)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import asyncpg

from services.runtime.access import Scope
from services.runtime.domain_errors import Invalid

from .approvals import ProposalNotFound
from .visibility import visible_units

# The standing in words is said from the row's numbers (a round stores only the reasons of the
# excluded: migration 0005).
_COLUMNS = """proposal_id, campaign_id, phase_id, year, title, level, subject_kind, subject_id,
    subject_name, unit_id, issuer_unit_id, cluster_id, points, rank, quota, candidate_count,
    tie_break, proposal_standing(p) AS standing, direct_worker, initiative_ids, status,
    proposed_at, disclosure_ends_at, decided_at, decision_reason, decision_id"""


class CursorInvalid(Invalid):
    def __init__(self) -> None:
        super().__init__("cursor_invalid", "not a cursor this API gave", field="query.cursor")


@dataclass(frozen=True)
class Filters:
    campaign_id: str | None = None
    phase_id: str | None = None
    title: str | None = None
    level: str | None = None
    status: str | None = None
    issuer_unit_id: str | None = None
    subject_id: str | None = None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str:
    if not cursor:
        return ""
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_",
                                validate=True).decode()
    except ValueError:
        raise CursorInvalid() from None


async def page(pool: asyncpg.Pool, scope: Scope, f: Filters, cursor: str | None,
               limit: int) -> tuple[list[dict], str | None]:
    after = decode_cursor(cursor)
    units = await visible_units(scope)
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM proposals p
            WHERE proposal_id > $1
              AND ($2::text[] IS NULL OR unit_id = ANY($2) OR issuer_unit_id = ANY($2))
              AND ($3::text IS NULL OR campaign_id = $3) AND ($4::text IS NULL OR phase_id = $4)
              AND ($5::text IS NULL OR title = $5) AND ($6::text IS NULL OR level = $6)
              AND ($7::text IS NULL OR status = $7)
              AND ($8::text IS NULL OR issuer_unit_id = $8)
              AND ($9::text IS NULL OR subject_id = $9)
            ORDER BY proposal_id LIMIT $10""",
        after, units, f.campaign_id, f.phase_id, f.title, f.level, f.status, f.issuer_unit_id,
        f.subject_id, limit + 1)
    more = len(rows) > limit
    items = [dict(r) for r in rows[:limit]]
    return items, encode_cursor(items[-1]["proposal_id"]) if more else None


async def one(pool: asyncpg.Pool, scope: Scope, proposal_id: str) -> dict:
    units = await visible_units(scope)
    row = await pool.fetchrow(
        f"""SELECT {_COLUMNS},
                   (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'objection_id', o.objection_id, 'text', o.text,
                        'raised_at', o.raised_at, 'answer', o.answer, 'upheld', o.upheld,
                        'answered_at', o.answered_at) ORDER BY o.raised_at), '[]')
                    FROM objections o WHERE o.proposal_id = p.proposal_id)::text AS objections
            FROM proposals p WHERE proposal_id = $1
              AND ($2::text[] IS NULL OR unit_id = ANY($2) OR issuer_unit_id = ANY($2))""",
        proposal_id, units)
    if row is None:
        raise ProposalNotFound(proposal_id)
    return dict(row) | {"objections": json.loads(row["objections"])}

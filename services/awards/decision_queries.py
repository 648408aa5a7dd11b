"""Reading decisions, their recipients and the statistics of awards, within the caller's scope
(`visibility.py`): one query each."""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg

from services.runtime.domain_errors import NotFound

# The export's columns, in order (README: "Export of decisions").
EXPORT_COLUMNS = (
    "decision_number", "decision_date", "issuer_unit_id", "issuer_name", "signatory", "year",
    "title", "level", "subject_kind", "subject_id", "subject_name", "unit_id", "district_id",
    "cash_amount_vnd", "award_id", "proposal_id", "campaign_id", "granted_at",
)


class DecisionNotFound(NotFound):
    def __init__(self, decision_id: str) -> None:
        super().__init__("decision_not_found", f"no decision {decision_id} in your scope",
                         field="decision_id")


@dataclass(frozen=True)
class DecisionFilters:
    year: int | None = None
    issuer_unit_id: str | None = None
    title: str | None = None
    level: str | None = None


_VISIBLE = """($1::text[] IS NULL OR d.issuer_unit_id = ANY($1) OR EXISTS (
    SELECT 1 FROM awards_granted v WHERE v.decision_id = d.decision_id AND v.unit_id = ANY($1)))"""
_FILTERS = """($2::int IS NULL OR d.year = $2) AND ($3::text IS NULL OR d.issuer_unit_id = $3)
    AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM awards_granted t WHERE
         t.decision_id = d.decision_id AND t.title = $4 AND ($5::text IS NULL OR t.level = $5)))"""


async def page(pool: asyncpg.Pool, units: list[str] | None, f: DecisionFilters, after: str,
               limit: int) -> list[dict]:
    rows = await pool.fetch(
        f"""SELECT d.decision_id, d.decision_number, d.issuer_unit_id, d.issuer_name, d.year,
                   d.decision_date, d.signatory, d.recipient_count, d.total_cash_vnd,
                   d.recorded_at
            FROM decisions d WHERE d.decision_id > $6 AND {_VISIBLE} AND {_FILTERS}
            ORDER BY d.decision_id LIMIT $7""",
        units, f.year, f.issuer_unit_id, f.title, f.level, after, limit)
    return [dict(r) for r in rows]


async def one(pool: asyncpg.Pool, units: list[str] | None, decision_id: str) -> dict:
    row = await pool.fetchrow(
        f"""SELECT d.decision_id, d.decision_number, d.issuer_unit_id, d.issuer_name, d.year,
                   d.decision_date, d.signatory, d.recipient_count, d.total_cash_vnd,
                   d.recorded_at,
                   (SELECT jsonb_agg(jsonb_build_object(
                        'award_id', a.award_id, 'proposal_id', a.proposal_id,
                        'title', a.title, 'level', a.level, 'subject_kind', a.subject_kind,
                        'subject_id', a.subject_id, 'subject_name', a.subject_name,
                        'unit_id', a.unit_id, 'cash_amount_vnd', a.cash_amount_vnd)
                        ORDER BY a.award_id)
                    FROM awards_granted a WHERE a.decision_id = d.decision_id)::text AS recipients
            FROM decisions d WHERE d.decision_id = $2 AND {_VISIBLE}""", units, decision_id)
    if row is None:
        raise DecisionNotFound(decision_id)
    return dict(row) | {"recipients": json.loads(row["recipients"] or "[]")}


async def export_rows(pool: asyncpg.Pool, units: list[str] | None, year: int,
                      issuer_unit_id: str | None, limit: int) -> list[tuple]:
    rows = await pool.fetch(
        """SELECT d.decision_number, d.decision_date, d.issuer_unit_id, d.issuer_name,
                  d.signatory, a.year, a.title, a.level, a.subject_kind, a.subject_id,
                  a.subject_name, a.unit_id, a.district_id, a.cash_amount_vnd, a.award_id,
                  a.proposal_id, a.campaign_id, a.granted_at
           FROM awards_granted a JOIN decisions d USING (decision_id)
           WHERE a.year = $2 AND ($3::text IS NULL OR d.issuer_unit_id = $3)
             AND ($1::text[] IS NULL OR a.unit_id = ANY($1) OR d.issuer_unit_id = ANY($1))
           ORDER BY d.issuer_unit_id, d.decision_number, a.award_id LIMIT $4""",
        units, year, issuer_unit_id, limit)
    return [tuple(r.values()) for r in rows]


async def statistics(pool: asyncpg.Pool, units: list[str] | None, year: int) -> dict:
    """Awards by district, title and level; and per title and level the pyramid: candidates
    proposed within quota, beyond it, excluded, approved, rejected."""
    granted = await pool.fetch(
        """SELECT coalesce(district_id, '') AS district_id, title, level, count(*) AS awards,
                  sum(cash_amount_vnd) AS cash_vnd
           FROM awards_granted WHERE year = $2 AND ($1::text[] IS NULL OR unit_id = ANY($1))
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", units, year)
    pyramid = await pool.fetch(
        """SELECT title, level,
                  count(*) FILTER (WHERE status IN ('proposed', 'approved', 'rejected'))
                    AS within_quota,
                  count(*) FILTER (WHERE status = 'beyond_quota') AS beyond_quota,
                  count(*) FILTER (WHERE status = 'excluded') AS excluded,
                  count(*) FILTER (WHERE status = 'approved') AS approved,
                  count(*) FILTER (WHERE status = 'rejected') AS rejected
           FROM proposals WHERE year = $2
             AND ($1::text[] IS NULL OR unit_id = ANY($1) OR issuer_unit_id = ANY($1))
           GROUP BY 1, 2""", units, year)
    return {"awards": [dict(r) for r in granted], "pyramid": [dict(r) for r in pyramid]}

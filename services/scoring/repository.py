"""All of scoring's SQL, run inside the consumer's batch transaction."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from .domain import PointsAwarded


async def record_points(
    conn: asyncpg.Connection,
    *,
    campaign_id: str,
    phase_id: str,
    unit_id: str,
    district: str | None,
    awarded: PointsAwarded,
    source_event_id: str,
) -> Decimal | None:
    """Add a ledger line and return the subject's new total, or None if it was already counted."""
    entry = await conn.fetchval(
        """INSERT INTO score_entries (campaign_id, phase_id, subject_kind, subject_id, points,
                                      reason, source_event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT DO NOTHING RETURNING entry_id""",
        campaign_id, phase_id, awarded.subject_kind, awarded.subject_id, awarded.points,
        awarded.reason, source_event_id,
    )
    if entry is None:
        return None
    return await conn.fetchval(
        """INSERT INTO scores (campaign_id, phase_id, subject_kind, subject_id, unit_id, district,
                               total_points)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id) DO UPDATE
             SET total_points = scores.total_points + EXCLUDED.total_points, updated_at = now()
           RETURNING total_points""",
        campaign_id, phase_id, awarded.subject_kind, awarded.subject_id, unit_id, district,
        awarded.points,
    )


async def scores_of_unit(pool: asyncpg.Pool, unit_id: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT campaign_id, phase_id, subject_kind, subject_id, total_points
           FROM scores WHERE unit_id = $1 ORDER BY campaign_id, phase_id, subject_kind, subject_id""",
        unit_id,
    )
    return [dict(r) for r in rows]

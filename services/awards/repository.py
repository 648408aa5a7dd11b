"""All of awards' SQL, run inside the consumer's batch transaction."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from .domain import Eligibility


async def update_standing(
    conn: asyncpg.Connection, *, campaign_id: str, phase_id: str, subject_kind: str,
    subject_id: str, unit_id: str, total_points: Decimal, accepted_delta: int,
) -> int:
    """Store the subject's latest total; return its accepted-initiative count."""
    return await conn.fetchval(
        """INSERT INTO subject_standings (campaign_id, phase_id, subject_kind, subject_id,
                                          unit_id, total_points, accepted_initiatives)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id) DO UPDATE
             -- A member's changes can arrive on several partitions (keyed by unit): while points
             -- are only ever added, the larger total is the later one.
             SET total_points = GREATEST(subject_standings.total_points, EXCLUDED.total_points),
                 unit_id = EXCLUDED.unit_id,
                 accepted_initiatives = subject_standings.accepted_initiatives
                                        + EXCLUDED.accepted_initiatives,
                 updated_at = now()
           RETURNING accepted_initiatives""",
        campaign_id, phase_id, subject_kind, subject_id, unit_id, total_points, accepted_delta,
    )


async def announced(
    conn: asyncpg.Connection, campaign_id: str, phase_id: str, subject_kind: str, subject_id: str
) -> dict[tuple[str, str], bool]:
    rows = await conn.fetch(
        """SELECT title, level, eligible FROM eligibility
           WHERE campaign_id = $1 AND phase_id = $2 AND subject_kind = $3 AND subject_id = $4""",
        campaign_id, phase_id, subject_kind, subject_id,
    )
    return {(r["title"], r["level"]): r["eligible"] for r in rows}


async def record_eligibility(
    conn: asyncpg.Connection, *, campaign_id: str, phase_id: str, subject_kind: str,
    subject_id: str, unit_id: str, changes: list[Eligibility],
) -> None:
    await conn.executemany(
        """INSERT INTO eligibility (campaign_id, phase_id, subject_kind, subject_id, title, level,
                                    eligible, reason, unit_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id, title, level) DO UPDATE
             SET eligible = EXCLUDED.eligible, reason = EXCLUDED.reason, updated_at = now()""",
        [(campaign_id, phase_id, subject_kind, subject_id, c.title, c.level, c.eligible, c.reason,
          unit_id) for c in changes],
    )


async def eligibility_of(pool: asyncpg.Pool, subject_kind: str, subject_id: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT campaign_id, phase_id, title, level, eligible, reason, updated_at
           FROM eligibility WHERE subject_kind = $1 AND subject_id = $2
           ORDER BY campaign_id, phase_id, title, level""",
        subject_kind, subject_id,
    )
    return [dict(r) for r in rows]

"""All of scoring's SQL, run inside the consumer's batch transaction: one statement per step."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from .domain import Credit, SubjectKey


class ScoringRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record_points(self, credits: Sequence[Credit]) -> list[tuple[Credit, Decimal]]:
        """Add the ledger lines not recorded before; return each new line with its subject's
        new total (after the whole batch). Lines already in the ledger change nothing."""
        if not credits:
            return []
        rows = await self._conn.fetch(
            """INSERT INTO score_entries (campaign_id, phase_id, subject_kind, subject_id, points,
                                          reason, source_event_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                    $5::numeric[], $6::text[], $7::text[])
               ON CONFLICT DO NOTHING
               RETURNING source_event_id, subject_kind, subject_id, reason""",
            [c.campaign_id for c in credits], [c.phase_id for c in credits],
            [c.awarded.subject_kind for c in credits], [c.awarded.subject_id for c in credits],
            [c.awarded.points for c in credits], [c.awarded.reason for c in credits],
            [c.source_event_id for c in credits],
        )
        inserted = {tuple(r.values()) for r in rows}
        new = []
        for c in credits:
            line = (c.source_event_id, c.awarded.subject_kind, c.awarded.subject_id,
                    c.awarded.reason)
            if line in inserted:
                # A line credited twice (an author listed twice) is one ledger line: count it once.
                inserted.discard(line)
                new.append(c)
        totals = await self._add_to_totals(new)
        return [(c, totals[c.subject_key]) for c in new]

    async def _add_to_totals(self, credits: Sequence[Credit]) -> dict[SubjectKey, Decimal]:
        increments: dict[SubjectKey, tuple[Decimal, Credit]] = {}
        for c in credits:
            points, _ = increments.get(c.subject_key, (Decimal(0), c))
            increments[c.subject_key] = (points + c.awarded.points, c)  # latest unit wins
        if not increments:
            return {}
        keys = list(increments)
        rows = await self._conn.fetch(
            """INSERT INTO scores (campaign_id, phase_id, subject_kind, subject_id, unit_id,
                                   district, total_points)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::numeric[])
               ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id) DO UPDATE
                 SET total_points = scores.total_points + EXCLUDED.total_points,
                     unit_id = EXCLUDED.unit_id, district = EXCLUDED.district,
                     updated_at = now()
               RETURNING campaign_id, phase_id, subject_kind, subject_id, total_points""",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            [k[3] for k in keys], [increments[k][1].unit_id for k in keys],
            [increments[k][1].district for k in keys], [increments[k][0] for k in keys],
        )
        return {(r[0], r[1], r[2], r[3]): r[4] for r in rows}


async def scores_of_unit(pool: asyncpg.Pool, unit_id: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT campaign_id, phase_id, subject_kind, subject_id, total_points
           FROM scores WHERE unit_id = $1 ORDER BY campaign_id, phase_id, subject_kind, subject_id""",
        unit_id,
    )
    return [dict(r) for r in rows]

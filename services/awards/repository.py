"""All of awards' SQL, run inside the consumer's batch transaction: one statement per step."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from .domain import Eligibility, Standing, StandingUpdate, SubjectKey


class AwardsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def update_standings(
        self, updates: Sequence[StandingUpdate]
    ) -> dict[SubjectKey, Standing]:
        """Store each subject's latest total and count; return their standings afterwards."""
        if not updates:
            return {}
        rows = await self._conn.fetch(
            """INSERT INTO subject_standings (campaign_id, phase_id, subject_kind, subject_id,
                                              unit_id, total_points, accepted_initiatives)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::numeric[], $7::int[])
               ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id) DO UPDATE
                 -- Out-of-order totals (several partitions): the larger one is the later.
                 SET total_points = GREATEST(subject_standings.total_points,
                                             EXCLUDED.total_points),
                     -- The unit of the latest (largest) total: a late, stale change
                     -- does not move a member back to an older unit.
                     unit_id = CASE WHEN EXCLUDED.total_points >= subject_standings.total_points
                                    THEN EXCLUDED.unit_id ELSE subject_standings.unit_id END,
                     accepted_initiatives = subject_standings.accepted_initiatives
                                            + EXCLUDED.accepted_initiatives,
                     updated_at = now()
               RETURNING campaign_id, phase_id, subject_kind, subject_id, total_points,
                         accepted_initiatives""",
            *_columns([u.subject for u in updates]), [u.unit_id for u in updates],
            [u.total_points for u in updates], [u.accepted_delta for u in updates],
        )
        return {(r[0], r[1], r[2], r[3]): Standing(r[2], r[4], r[5]) for r in rows}

    async def announced(
        self, subjects: Sequence[SubjectKey]
    ) -> dict[SubjectKey, dict[tuple[str, str], bool]]:
        """What was last announced per subject: (title, level) → eligible."""
        if not subjects:
            return {}
        rows = await self._conn.fetch(
            """SELECT e.campaign_id, e.phase_id, e.subject_kind, e.subject_id, e.title, e.level,
                      e.eligible
               FROM eligibility e
               JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[])
                    AS s(campaign_id, phase_id, subject_kind, subject_id)
                 USING (campaign_id, phase_id, subject_kind, subject_id)""",
            *_columns(subjects),
        )
        out: dict[SubjectKey, dict[tuple[str, str], bool]] = {}
        for r in rows:
            out.setdefault((r[0], r[1], r[2], r[3]), {})[(r[4], r[5])] = r[6]
        return out

    async def record_eligibility(
        self, changes: Sequence[tuple[StandingUpdate, Eligibility]]
    ) -> None:
        if not changes:
            return
        await self._conn.execute(
            """INSERT INTO eligibility (campaign_id, phase_id, subject_kind, subject_id, title,
                                        level, eligible, reason, unit_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::bool[], $8::text[], $9::text[])
               ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id, title, level)
               DO UPDATE SET eligible = EXCLUDED.eligible, reason = EXCLUDED.reason,
                             updated_at = now()""",
            *_columns([u.subject for u, _ in changes]), [c.title for _, c in changes],
            [c.level for _, c in changes], [c.eligible for _, c in changes],
            [c.reason for _, c in changes], [u.unit_id for u, _ in changes],
        )


def _columns(subjects: Sequence[SubjectKey]) -> tuple[list[str], list[str], list[str], list[str]]:
    return ([s[0] for s in subjects], [s[1] for s in subjects], [s[2] for s in subjects],
            [s[3] for s in subjects])


async def eligibility_of(pool: asyncpg.Pool, subject_kind: str, subject_id: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT campaign_id, phase_id, title, level, eligible, reason, updated_at
           FROM eligibility WHERE subject_kind = $1 AND subject_id = $2
           ORDER BY campaign_id, phase_id, title, level""",
        subject_kind, subject_id,
    )
    return [dict(r) for r in rows]

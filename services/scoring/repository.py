"""All of scoring's SQL, run inside the consumer's batch transaction: one statement per step."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from contracts.events.rules import ScoringRules

from .domain import Credit, Recorded, SubjectKey, running_totals


class ScoringRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def keep_campaign_rules(self, campaigns: Sequence[tuple[str, str, str, object]]) -> None:
        """Keep each campaign's scoring rules and phases (campaign id, rules JSON, phases JSON,
        launched at), one upsert for the batch; a later launch of a campaign replaces an
        earlier one, a redelivered or older one changes nothing."""
        if not campaigns:
            return
        await self._conn.execute(
            """INSERT INTO campaign_rules (campaign_id, scoring, phases, launched_at)
               SELECT DISTINCT ON (c) c, s::jsonb, p::jsonb, l
               FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(c, s, p, l)
               ORDER BY c, l DESC
               ON CONFLICT (campaign_id) DO UPDATE
                 SET scoring = EXCLUDED.scoring, phases = EXCLUDED.phases,
                     launched_at = EXCLUDED.launched_at, updated_at = now()
                 WHERE campaign_rules.launched_at <= EXCLUDED.launched_at""",
            [c[0] for c in campaigns], [c[1] for c in campaigns], [c[2] for c in campaigns],
            [c[3] for c in campaigns],
        )

    async def rules_of(self, campaign_ids: Sequence[str]) -> dict[str, ScoringRules]:
        """The scoring rules of those campaigns whose launch scoring has seen."""
        rows = await self._conn.fetch(
            "SELECT campaign_id, scoring::text FROM campaign_rules WHERE campaign_id = ANY($1)",
            sorted(set(campaign_ids)),
        )
        return {r[0]: ScoringRules.model_validate_json(r[1]) for r in rows}

    async def record_points(self, credits: Sequence[Credit]) -> list[Recorded]:
        """Add the ledger lines not recorded before; return each new line with its subject's
        total and version right after it. Lines already in the ledger change nothing.

        Each new line is one change of its subject: the subject's version goes up by one per
        line, in the same upsert that adds the points, and the batch's lines of one subject take
        the versions in order, the last one the stored version."""
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
        after = await self._add_to_totals(new)
        return running_totals(new, after)

    async def _add_to_totals(
        self, credits: Sequence[Credit]
    ) -> dict[SubjectKey, tuple[Decimal, int]]:
        """One upsert for the batch: each subject's total and version after all its lines."""
        increments: dict[SubjectKey, tuple[Decimal, int, Credit]] = {}
        for c in credits:
            points, changes, _ = increments.get(c.subject_key, (Decimal(0), 0, c))
            # latest unit wins
            increments[c.subject_key] = (points + c.awarded.points, changes + 1, c)
        if not increments:
            return {}
        keys = list(increments)
        rows = await self._conn.fetch(
            """INSERT INTO scores (campaign_id, phase_id, subject_kind, subject_id, unit_id,
                                   district, total_points, version)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::numeric[], $8::bigint[])
               ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id) DO UPDATE
                 SET total_points = scores.total_points + EXCLUDED.total_points,
                     version = scores.version + EXCLUDED.version,
                     unit_id = EXCLUDED.unit_id, district = EXCLUDED.district,
                     updated_at = now()
               RETURNING campaign_id, phase_id, subject_kind, subject_id, total_points, version""",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            [k[3] for k in keys], [increments[k][2].unit_id for k in keys],
            [increments[k][2].district for k in keys], [increments[k][0] for k in keys],
            [increments[k][1] for k in keys],
        )
        return {(r[0], r[1], r[2], r[3]): (r[4], r[5]) for r in rows}


async def scores_of_unit(pool: asyncpg.Pool, unit_id: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT campaign_id, phase_id, subject_kind, subject_id, total_points
           FROM scores WHERE unit_id = $1 ORDER BY campaign_id, phase_id, subject_kind, subject_id""",
        unit_id,
    )
    return [dict(r) for r in rows]


async def entries_of(pool: asyncpg.Pool, subject_kind: str, subject_id: str, after: int,
                     limit: int) -> list[dict]:
    """The ledger lines behind a subject's totals, oldest first, from after the cursor on."""
    rows = await pool.fetch(
        """SELECT entry_id, campaign_id, phase_id, points, reason, source_event_id, recorded_at
           FROM score_entries
           WHERE subject_kind = $1 AND subject_id = $2 AND entry_id > $3
           ORDER BY entry_id LIMIT $4""",
        subject_kind, subject_id, after, limit,
    )
    return [dict(r) for r in rows]

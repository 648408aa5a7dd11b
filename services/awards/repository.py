"""All of awards' SQL, run inside the consumer's batch transaction: one statement per step."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from .domain import Eligibility, Standing, StandingUpdate, SubjectKey

# A subject's accepted initiatives in a campaign phase, from the initiatives' own events
# (`initiative.submitted` authors, `initiative.reviewed` accepted): a member's as an author,
# a unit's as the unit submitting them. `{s}` names the row giving the subject.
_ACCEPTED = """SELECT count(*)::int FROM initiatives i
               WHERE i.campaign_id = {s}.campaign_id AND i.phase_id = {s}.phase_id
                 AND i.accepted_level IS NOT NULL
                 AND CASE {s}.subject_kind
                       WHEN 'member' THEN {s}.subject_id = ANY(i.author_ids)
                       ELSE {s}.subject_id = i.unit_id END"""


# Phase locks (transaction-level advisory locks, per schema, campaign and phase) that make the
# accepted-initiative count consistent. A score batch counts a subject's accepted initiatives
# as its statement sees them; a review batch recounts the subjects already scored. Running at
# the same instant, each would miss the other's uncommitted rows: the score's count lacks the
# new acceptance, and the review's recount lacks the new standing. So score batches hold their
# phases shared (they run side by side) and initiative batches exclusive: whichever commits
# second starts its statements after the first's commit and counts both. Keys are taken in
# order, so two batches never wait on each other in a circle over their keys.
_PHASE_LOCK = """
SELECT {fn}(hashtext('awards.accepted_initiatives'), hashtext(current_schema() || chr(31) || k))
FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS keys"""


async def hold_phases(conn: asyncpg.Connection, phases: set[tuple[str, str]], *,
                      exclusive: bool) -> None:
    """Hold these (campaign, phase) locks until the transaction ends: shared for a score
    batch, exclusive for a batch recording initiatives' authors or acceptances."""
    if not phases:
        return
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(_PHASE_LOCK.format(fn=fn),
                       sorted(f"{c}\x1f{p}" for c, p in phases))


class AwardsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def update_standings(
        self, updates: Sequence[StandingUpdate]
    ) -> dict[SubjectKey, Standing]:
        """Store each subject's latest total and its accepted initiatives counted afresh from
        the initiatives' facts; return their standings afterwards.

        The total (and its unit) is replaced only by a change of a higher `subject_version`
        than the one stored: a late, stale change leaves it, whichever partition it came on, and
        a replay changes nothing. Unversioned changes on an unversioned standing keep the
        larger total (points were only ever added then)."""
        if not updates:
            return {}
        rows = await self._conn.fetch(
            f"""INSERT INTO subject_standings AS s
                   (campaign_id, phase_id, subject_kind, subject_id, unit_id, total_points,
                    accepted_initiatives, subject_version)
               SELECT k.campaign_id, k.phase_id, k.subject_kind, k.subject_id, k.unit_id,
                      k.total_points, ({_ACCEPTED.format(s="k")}), k.subject_version
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                           $6::numeric[], $7::bigint[])
                    AS k(campaign_id, phase_id, subject_kind, subject_id, unit_id,
                         total_points, subject_version)
               ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id) DO UPDATE
                 SET total_points = CASE
                       WHEN EXCLUDED.subject_version > s.subject_version
                            OR (s.subject_version IS NULL
                                AND EXCLUDED.subject_version IS NOT NULL)
                         THEN EXCLUDED.total_points
                       WHEN s.subject_version IS NULL AND EXCLUDED.subject_version IS NULL
                         THEN GREATEST(s.total_points, EXCLUDED.total_points)
                       ELSE s.total_points END,
                     unit_id = CASE
                       WHEN EXCLUDED.subject_version > s.subject_version
                            OR (s.subject_version IS NULL
                                AND EXCLUDED.subject_version IS NOT NULL)
                            OR (s.subject_version IS NULL AND EXCLUDED.subject_version IS NULL
                                AND EXCLUDED.total_points >= s.total_points)
                         THEN EXCLUDED.unit_id
                       ELSE s.unit_id END,
                     subject_version = GREATEST(s.subject_version, EXCLUDED.subject_version),
                     accepted_initiatives = EXCLUDED.accepted_initiatives,
                     updated_at = now()
               RETURNING campaign_id, phase_id, subject_kind, subject_id, total_points,
                         accepted_initiatives, unit_id""",
            *_columns([u.subject for u in updates]), [u.unit_id for u in updates],
            [u.total_points for u in updates], [u.version for u in updates],
        )
        return {(r[0], r[1], r[2], r[3]): Standing(r[2], r[4], r[5], r[6]) for r in rows}

    async def recount_accepted(
        self, initiative_ids: Sequence[str]
    ) -> dict[SubjectKey, tuple[str, Standing]]:
        """Count afresh the accepted initiatives of every scored subject these initiatives
        count for (their authors, the unit submitting them) in their campaign phase; return
        each such subject's standing afterwards, with the initiative that reached it."""
        if not initiative_ids:
            return {}
        rows = await self._conn.fetch(
            f"""WITH reached AS (
                   SELECT DISTINCT ON (s.campaign_id, s.phase_id, s.subject_kind, s.subject_id)
                          s.campaign_id, s.phase_id, s.subject_kind, s.subject_id,
                          i.initiative_id
                   FROM initiatives i
                   JOIN subject_standings s
                     ON s.campaign_id = i.campaign_id AND s.phase_id = i.phase_id
                    AND ((s.subject_kind = 'member' AND s.subject_id = ANY(i.author_ids))
                         OR (s.subject_kind = 'unit' AND s.subject_id = i.unit_id))
                   WHERE i.initiative_id = ANY($1::text[])
                   ORDER BY s.campaign_id, s.phase_id, s.subject_kind, s.subject_id,
                            array_position($1::text[], i.initiative_id) DESC)
               UPDATE subject_standings AS s
                  SET accepted_initiatives = ({_ACCEPTED.format(s="s")}), updated_at = now()
               FROM reached r
               WHERE (s.campaign_id, s.phase_id, s.subject_kind, s.subject_id)
                     = (r.campaign_id, r.phase_id, r.subject_kind, r.subject_id)
               RETURNING s.campaign_id, s.phase_id, s.subject_kind, s.subject_id,
                         s.total_points, s.accepted_initiatives, s.unit_id, r.initiative_id""",
            list(initiative_ids),
        )
        return {(r[0], r[1], r[2], r[3]): (r[7], Standing(r[2], r[4], r[5], r[6])) for r in rows}

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
        self, evaluations: Sequence[tuple[SubjectKey, str, Eligibility]]
    ) -> None:
        """Store every evaluation (subject, its unit, verdict): its criteria always; its
        verdict, reason and time only when the verdict changed (what was announced)."""
        if not evaluations:
            return
        await self._conn.execute(
            """INSERT INTO eligibility AS e (campaign_id, phase_id, subject_kind, subject_id,
                                             title, level, eligible, reason, unit_id, criteria)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::bool[], $8::text[], $9::text[],
                                    $10::jsonb[])
               ON CONFLICT (campaign_id, phase_id, subject_kind, subject_id, title, level)
               DO UPDATE SET
                 criteria = EXCLUDED.criteria,
                 reason = CASE WHEN e.eligible <> EXCLUDED.eligible THEN EXCLUDED.reason
                               ELSE e.reason END,
                 updated_at = CASE WHEN e.eligible <> EXCLUDED.eligible THEN now()
                                   ELSE e.updated_at END,
                 eligible = EXCLUDED.eligible""",
            *_columns([s for s, _, _ in evaluations]), [e.title for _, _, e in evaluations],
            [e.level for _, _, e in evaluations], [e.eligible for _, _, e in evaluations],
            [e.reason for _, _, e in evaluations], [u for _, u, _ in evaluations],
            [json.dumps([c.as_json() for c in e.criteria]) for _, _, e in evaluations],
        )


def _columns(subjects: Sequence[SubjectKey]) -> tuple[list[str], list[str], list[str], list[str]]:
    return ([s[0] for s in subjects], [s[1] for s in subjects], [s[2] for s in subjects],
            [s[3] for s in subjects])


async def eligibility_of(pool: asyncpg.Pool, subject_kind: str, subject_id: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT campaign_id, phase_id, title, level, eligible, reason, updated_at,
                  criteria::text AS criteria
           FROM eligibility WHERE subject_kind = $1 AND subject_id = $2
           ORDER BY campaign_id, phase_id, title, level""",
        subject_kind, subject_id,
    )
    return [dict(r) | {"criteria": json.loads(r["criteria"])} for r in rows]


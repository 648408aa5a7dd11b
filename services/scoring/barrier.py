"""The phase-close barrier: standings of a phase are final once every event registration
accepted for it before the close has been applied here, however the close and those events
were interleaved across topics, partitions and workers.

Every batch locks the `phases` rows of the phases its events belong to before applying them:
`FOR SHARE` while a phase is open (batches of an open phase run side by side), `FOR UPDATE`
once it is closed (the close's own upsert takes the same exclusive lock). So the close and the
phase's last events are decided in one order: whichever commits second sees the other's
counts and finalizes. Counts are appended per batch (`phase_counts`), never updated in place.

Late events: an event of a phase already finalized is kept in `late_events`, counted in
`thidua_scoring_late_events_total` and logged, and not applied: finalized standings never
change and no `score.changed` follows the phase's `standings_finalized`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from prometheus_client import Counter as Metric

from contracts import CloudEvent
from contracts.events.campaigns import PhaseClosed

log = structlog.get_logger()

PhaseKey = tuple[str, str]  # campaign, phase
SCORE_CHANGES = "emitted:thidua.score.changed.v1"

LATE_EVENTS = Metric(
    "thidua_scoring_late_events_total",
    "Events of a phase whose standings were already finalized: kept in late_events, not applied.",
    ["event_type"],
)


@dataclass(frozen=True)
class Finalized:
    campaign_id: str
    phase_id: str
    organizer_unit_id: str
    score_changed_count: int
    close_event: str  # the phase.closed envelope, JSON


def phase_of(event: CloudEvent) -> PhaseKey:
    return event.data.campaign_id, event.data.phase_id


def _columns(keys: Iterable[PhaseKey]) -> tuple[list[str], list[str]]:
    keys = sorted(set(keys))
    return [k[0] for k in keys], [k[1] for k in keys]


_LOCK = """
    SELECT campaign_id, phase_id, accepted_counts IS NOT NULL AS closed,
           finalized_at IS NOT NULL AS finalized
    FROM phases
    WHERE (campaign_id, phase_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
    ORDER BY campaign_id, phase_id FOR {mode}"""


_TAKE = """
    WITH keys AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(campaign_id, phase_id)),
    added AS (
        INSERT INTO phases (campaign_id, phase_id) SELECT * FROM keys ORDER BY 1, 2
        ON CONFLICT DO NOTHING RETURNING campaign_id, phase_id),
    closed AS (
        SELECT campaign_id, phase_id, finalized_at IS NOT NULL AS finalized FROM phases
        WHERE (campaign_id, phase_id) IN (SELECT * FROM keys) AND accepted_counts IS NOT NULL
        ORDER BY campaign_id, phase_id FOR UPDATE),
    open AS (
        SELECT campaign_id, phase_id FROM phases
        WHERE (campaign_id, phase_id) IN (SELECT * FROM keys) AND accepted_counts IS NULL
        ORDER BY campaign_id, phase_id FOR SHARE)
    SELECT campaign_id, phase_id, true, finalized FROM closed
    UNION ALL SELECT campaign_id, phase_id, false, false FROM open
    UNION ALL SELECT campaign_id, phase_id, false, false FROM added"""


class PhaseBarrier:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._exclusive: set[PhaseKey] = set()
        # Phases this batch holds a lock on, and whether each is finalized: a batch is cut
        # into many runs of one event type, and a lock once taken holds until it commits.
        self._held: dict[PhaseKey, bool] = {}

    async def admit(self, events: Sequence[CloudEvent]) -> list[CloudEvent]:
        """Lock the events' phases; keep the events of finalized phases as late; return the
        others, to be applied."""
        if not events:
            return []
        finalized = await self.hold({phase_of(e) for e in events})
        late = [e for e in events if phase_of(e) in finalized]
        if late:
            await self._record_late(late)
        return [e for e in events if phase_of(e) not in finalized]

    async def hold(self, keys: set[PhaseKey]) -> set[PhaseKey]:
        """Lock those phases for the rest of the transaction (shared while open, exclusive once
        closed); return the finalized ones."""
        new = keys - self._held.keys()
        if new:
            self._held |= await self._take(new)
        return {k for k in keys if self._held[k]}

    async def _take(self, keys: set[PhaseKey]) -> dict[PhaseKey, bool]:
        # One statement inserts the phases never seen and locks the others by the state it
        # reads: exclusively once closed, shared while open.
        rows = await self._conn.fetch(_TAKE, *_columns(keys))
        state: dict[PhaseKey, bool] = {}
        for campaign_id, phase_id, closed, finalized in rows:
            state[(campaign_id, phase_id)] = finalized
            if closed:
                self._exclusive.add((campaign_id, phase_id))
        # Left out: a close committed between the statement's snapshot and its share lock (the
        # lock's recheck drops the row), or a phase another batch inserted meanwhile. Either
        # is taken exclusively, reading the committed state.
        missed = keys - state.keys()
        if missed:
            state |= {k: done for k, (_, done) in (await self._lock("UPDATE", missed)).items()}
        return state

    async def _lock(self, mode: str, keys: set[PhaseKey]) -> dict[PhaseKey, tuple[bool, bool]]:
        rows = await self._conn.fetch(_LOCK.format(mode=mode), *_columns(keys))
        if mode == "UPDATE":
            self._exclusive |= keys
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    async def _record_late(self, late: Sequence[CloudEvent]) -> None:
        await self._conn.execute(
            """INSERT INTO late_events (event_id, event_type, campaign_id, phase_id, unit_id,
                                        payload)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::jsonb[])
               ON CONFLICT (event_id) DO NOTHING""",
            [e.id for e in late], [e.type for e in late],
            [e.data.campaign_id for e in late], [e.data.phase_id for e in late],
            [getattr(e.data, "unit_id", None) for e in late],
            [e.model_dump_json() for e in late],
        )
        for e in late:
            LATE_EVENTS.labels(e.type).inc()
            log.warning("late_event_kept", event_id=e.id, event_type=e.type,
                        campaign_id=e.data.campaign_id, phase_id=e.data.phase_id)

    async def count(self, counts: Counter[tuple[str, str, str]]) -> None:
        """Append this batch's counts: (campaign, phase, counter) → n."""
        keys = [k for k, n in counts.items() if n]
        if not keys:
            return
        await self._conn.execute(
            """INSERT INTO phase_counts (campaign_id, phase_id, counter, n)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])""",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            [counts[k] for k in keys],
        )

    async def close(self, events: Sequence[CloudEvent[PhaseClosed]]) -> None:
        """Record each close (exclusive lock on its phase); a phase already finalized keeps its
        first close."""
        latest = {phase_of(e): e for e in sorted(events, key=lambda e: e.data.closed_at)}
        keys = sorted(latest)
        closes = [latest[k] for k in keys]
        await self._conn.execute(
            """INSERT INTO phases AS p (campaign_id, phase_id, accepted_counts, closed_at,
                                        closed_by_unit_id, close_event)
               SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[],
                                    $5::text[], $6::jsonb[])
               ON CONFLICT (campaign_id, phase_id) DO UPDATE
                  SET accepted_counts = EXCLUDED.accepted_counts,
                      closed_at = EXCLUDED.closed_at,
                      closed_by_unit_id = EXCLUDED.closed_by_unit_id,
                      close_event = EXCLUDED.close_event
                  WHERE p.finalized_at IS NULL""",
            [k[0] for k in keys], [k[1] for k in keys],
            [json.dumps(e.data.accepted_counts) for e in closes],
            [e.data.closed_at for e in closes], [e.data.closed_by_unit_id for e in closes],
            [e.model_dump_json() for e in closes],
        )
        self._exclusive |= set(keys)
        for k in keys:
            self._held.setdefault(k, False)

    async def finalize_ready(self, consumed_types: Sequence[str]) -> list[Finalized]:
        """Finalize the closed phases this batch holds whose applied counts have reached the
        close's accepted counts, for every type scoring consumes; return them."""
        pending = {k for k in self._exclusive if not self._held.get(k)}
        if not pending:
            return []
        rows = await self._conn.fetch(
            """WITH ready AS (
                   SELECT p.campaign_id, p.phase_id FROM phases AS p
                   WHERE (p.campaign_id, p.phase_id) IN (
                             SELECT * FROM unnest($1::text[], $2::text[]))
                     AND p.accepted_counts IS NOT NULL AND p.finalized_at IS NULL
                     AND NOT EXISTS (
                         SELECT FROM jsonb_each_text(p.accepted_counts) AS a(event_type, n)
                         WHERE a.event_type = ANY($3::text[])
                           AND a.n::bigint > coalesce(
                               (SELECT sum(c.n) FROM phase_counts AS c
                                WHERE (c.campaign_id, c.phase_id, c.counter)
                                      = (p.campaign_id, p.phase_id, a.event_type)), 0))
               )
               UPDATE phases AS p SET finalized_at = now()
               FROM ready LEFT JOIN campaign_rules AS cr USING (campaign_id)
               WHERE (p.campaign_id, p.phase_id) = (ready.campaign_id, ready.phase_id)
               RETURNING p.campaign_id, p.phase_id,
                         coalesce(cr.organizer_unit_id, p.closed_by_unit_id),
                         (SELECT coalesce(sum(c.n), 0) FROM phase_counts AS c
                          WHERE (c.campaign_id, c.phase_id, c.counter)
                                = (p.campaign_id, p.phase_id, $4::text)),
                         p.close_event::text""",
            *_columns(pending), list(consumed_types), SCORE_CHANGES,
        )
        done = [Finalized(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]
        for f in done:
            self._held[(f.campaign_id, f.phase_id)] = True
        return done

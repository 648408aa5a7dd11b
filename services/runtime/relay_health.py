"""Is the relay doing its job? Judged from what it recently achieved, not from a task being alive.

`RelayProgress` is fed by the relay as it works (attempts that failed, batches acknowledged,
idle polls that found nothing to do, the oldest row it knows to be waiting) and answers
`verdict()` from memory, so a readiness probe costs no query. The verdict reads like the
other readiness checks: "ok", or "failing: <reason>".

The backlog gauges come from `measure_backlog`, one bounded query the leader runs every few
seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg

from .metrics import OUTBOX_BACKLOG_ROWS, OUTBOX_OLDEST_AGE

# count(*) reads every row; beyond this many it is cheaper, and accurate enough, to report the
# span of seq values (an upper bound: rolled-back inserts leave gaps).
EXACT_COUNT_UP_TO = 100_000
# The oldest row is looked for among the first rows by seq, through the primary key, instead of
# a min(created_at) scan of the whole table. A row further on can only be older if its
# transaction started earlier and inserted later, by at most that transaction's duration.
OLDEST_AMONG_FIRST = 1_000

_BACKLOG = """
    SELECT (SELECT count(*) FROM (SELECT FROM outbox LIMIT $1) counted) AS rows,
           (SELECT max(seq) - min(seq) + 1 FROM outbox) AS seq_span,
           (SELECT extract(epoch FROM now() - min(created_at))::float8
            FROM (SELECT created_at FROM outbox ORDER BY seq LIMIT $2) head) AS oldest_age_s
"""


@dataclass(frozen=True)
class Backlog:
    rows: int
    oldest_age_s: float  # 0 when the outbox is empty


async def measure_backlog(
    conn: asyncpg.Connection, exact_count_up_to: int = EXACT_COUNT_UP_TO
) -> Backlog:
    """Rows waiting in the outbox and the age of the oldest; sets the two outbox gauges."""
    found = await conn.fetchrow(_BACKLOG, exact_count_up_to, OLDEST_AMONG_FIRST)
    rows = found["rows"]
    if rows >= exact_count_up_to:
        rows = max(rows, found["seq_span"])
    backlog = Backlog(rows, found["oldest_age_s"] or 0.0)
    OUTBOX_BACKLOG_ROWS.set(backlog.rows)
    OUTBOX_OLDEST_AGE.set(backlog.oldest_age_s)
    return backlog


def forget_backlog() -> None:
    """A standby does not know the backlog: it reports 0 and leaves the figure to the leader."""
    OUTBOX_BACKLOG_ROWS.set(0)
    OUTBOX_OLDEST_AGE.set(0)


class RelayProgress:
    def __init__(self, failing_after_errors: int, stalled_after: float) -> None:
        self._failing_after_errors = failing_after_errors
        self._stalled_after = stalled_after
        self._failed_attempts = 0
        self._last_error = ""
        # Last time the relay showed it works: a batch acknowledged, nothing left to publish,
        # or standing by for the leader. A new leader inherits its standby time.
        self._progress_at = time.monotonic()
        # When the oldest row seen by the last backlog check was written (monotonic clock).
        self._backlog_oldest_born: float | None = None

    def attempt_failed(self, error: str) -> None:
        self._failed_attempts += 1
        self._last_error = error

    def published(self) -> None:
        self._failed_attempts = 0
        self._progress_at = time.monotonic()

    def idle(self) -> None:
        """Nothing ready to publish and nothing in flight."""
        self.published()

    def standing_by(self) -> None:
        self.published()
        self._backlog_oldest_born = None

    def backlog_seen(self, backlog: Backlog) -> None:
        self._backlog_oldest_born = (
            time.monotonic() - backlog.oldest_age_s if backlog.rows else None
        )

    def verdict(self, is_leader: bool, oldest_in_flight_born: float | None) -> str:
        """"ok" (leading and making progress, or standing by), or "failing: <reason>"."""
        if self._failed_attempts >= self._failing_after_errors:
            return (f"failing: the last {self._failed_attempts} attempts failed, "
                    f"last: {self._last_error}")
        if not is_leader:
            return "ok"
        now = time.monotonic()
        borns = [b for b in (self._backlog_oldest_born, oldest_in_flight_born) if b is not None]
        waited = now - min(borns) if borns else 0.0
        quiet = now - self._progress_at
        if waited > self._stalled_after and quiet > self._stalled_after:
            return (f"failing: rows waiting for {waited:.0f} s and nothing published "
                    f"for {quiet:.0f} s")
        return "ok"

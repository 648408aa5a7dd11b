"""Which outbox rows the relay hands to the producer next, and never the same row twice at once.

The relay keeps several batches in flight, and rows stay in the outbox until Kafka has
acknowledged them, so a plain "ready rows ordered by seq" select would return the in-flight
rows again. The cursor remembers the highest `seq` it handed over (`high_water`) and selects
past it.

That alone would lose rows. A row is ready once every transaction older than its writer has
ended (the xid8 snapshot rule below), and `seq` is taken at INSERT while `txid` is taken at the
transaction's first write: a transaction that wrote early (low txid) but enqueued late (high
seq) can be ready before one that enqueued earlier (lower seq) but started later. That second
row is still invisible, or visible but not ready, when the mark passes it. So every `seq`
below the mark that the cursor passed without handing it over is remembered as a **gap**
(ranges of seqs; rolled-back inserts make gaps too), and each select also looks into the gaps,
through the primary key, so such a row goes out as soon as it is ready, in seq order with the
rest. Looking only at the gaps, rather than at every row below the mark, keeps the in-flight
rows (thousands) out of every select.

A gap is forgotten once no row can appear in it any more: every transaction that was running
when the gap was seen has ended (a select's `xmin` has reached a transaction id taken just
after the gap was seen), a select since then looked into the gap and found nothing, and
`GAP_GRACE_S` has passed. (A snapshot's own `xmax` is no such bound: it is the latest
*completed* id + 1, and a running writer may hold a higher one.) The grace covers the one case
no transaction id can: a writer whose first write is that very INSERT takes its txid just
after its seq, so for a moment it holds a seq but no txid. As a safety net,
`sweep()` (run every few seconds) looks for rows below the mark that are neither in flight nor
in a gap; it finds none unless a writer stalled inside that moment for longer than the grace.

The cursor holds nothing worth keeping across sessions: a new leader, or the same one after an
error, starts afresh and selects every row still in the outbox.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from operator import itemgetter

import asyncpg
import structlog

log = structlog.get_logger()

# How long a gap is kept after it could have been forgotten (see the module docstring).
GAP_GRACE_S = 10.0

# One statement per pipeline step: delete the rows Kafka acknowledged ($1) and select the next
# ready ones, past the mark ($2) and inside the gaps ($5, $6: first and last seq of each).
# The SELECT runs on the statement's snapshot, so it still sees the rows being deleted; they
# are at or below the mark and in no gap.
#
# Ready: every transaction older than the row's writer has ended (txid below the snapshot's
# xmin), so publishing in seq order never overtakes a row an older, still open transaction is
# about to commit; or the row is older than $4 seconds, so one long transaction cannot stall
# the outbox. LEFT JOIN LATERAL keeps one row (with NULL columns) when nothing is ready, so the
# snapshot's xmin always comes back. The xmin and the age of the oldest row selected fill the
# first row only (NULL elsewhere is cheaper to decode than 500 copies).
_DELETE_AND_SELECT = """
    WITH acknowledged AS (
        DELETE FROM outbox WHERE seq = ANY($1::bigint[])
    ), horizon AS MATERIALIZED (
        SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin,
               now() - make_interval(secs => $4) AS overdue
    )
    SELECT ready.seq, ready.topic, ready.partition_key, ready.value, ready.traceparent,
           CASE WHEN row_number() OVER () = 1 THEN horizon.xmin::text END AS xmin,
           CASE WHEN row_number() OVER () = 1
                THEN extract(epoch FROM now() - min(ready.created_at) OVER ())::float8
           END AS oldest_age_s
    FROM horizon
    LEFT JOIN LATERAL (
        (SELECT seq, topic, partition_key, value, traceparent, created_at FROM outbox
         WHERE seq > $2 AND (txid < horizon.xmin OR created_at < horizon.overdue)
         ORDER BY seq LIMIT $3)
        UNION ALL
        (SELECT late.* FROM unnest($5::bigint[], $6::bigint[]) AS gap(first, last)
         CROSS JOIN LATERAL (
             SELECT seq, topic, partition_key, value, traceparent, created_at FROM outbox
             WHERE seq BETWEEN gap.first AND gap.last
               AND (txid < horizon.xmin OR created_at < horizon.overdue)
             ORDER BY seq LIMIT $3
         ) late
         ORDER BY seq LIMIT $3)
        ORDER BY seq LIMIT $3
    ) ready ON true
"""

# Column positions in the rows `delete_and_select` returns (indexing beats names per row).
SEQ, TOPIC, KEY, VALUE, TRACEPARENT, _XMIN, _OLDEST_AGE_S = range(7)

_DELETE = "DELETE FROM outbox WHERE seq = ANY($1::bigint[])"

# Rows below the mark that are neither in flight ($2) nor in a gap ($3, $4). The in-flight
# seqs (thousands) are anti-joined, not compared one by one with every row.
_SWEEP = """
    SELECT o.seq FROM outbox o
    WHERE o.seq <= $1
      AND NOT EXISTS (SELECT FROM unnest($2::bigint[]) AS busy(seq) WHERE busy.seq = o.seq)
      AND NOT EXISTS (SELECT FROM unnest($3::bigint[], $4::bigint[]) AS gap(first, last)
                      WHERE o.seq BETWEEN gap.first AND gap.last)
    ORDER BY o.seq LIMIT 1000
"""


@dataclass
class Selected:
    rows: list[asyncpg.Record]  # in seq order; columns SEQ, TOPIC, KEY, VALUE, TRACEPARENT
    seqs: list[int]
    # Seconds since the oldest row's transaction started, by the database's clock.
    oldest_age_s: float


_NOTHING = Selected([], [], 0.0)


@dataclass
class _Gap:
    first: int
    last: int
    seen_at: float  # monotonic clock
    # A transaction id taken just after the gap was seen: any writer that holds a seq in the
    # gap took a lower one (bar the moment described in the module docstring).
    bound: int


class ReadyRowsCursor:
    def __init__(self, max_commit_wait: float) -> None:
        # A transaction open longer than this no longer holds back the rows committed after it.
        self._max_commit_wait = max_commit_wait
        self.high_water = 0
        self._gaps: list[_Gap] = []  # sorted, disjoint, all below the mark
        # Handed to the producer and not yet deleted (for the sweep).
        self._unsettled: set[int] = set()

    @property
    def gaps(self) -> list[tuple[int, int]]:
        return [(g.first, g.last) for g in self._gaps]

    async def delete_and_select(
        self, conn: asyncpg.Connection, acknowledged: list[int], limit: int
    ) -> Selected:
        """Delete acknowledged rows; select up to `limit` ready rows, now counted as handed
        over."""
        if limit <= 0:
            if acknowledged:
                await conn.execute(_DELETE, acknowledged)
                self._unsettled.difference_update(acknowledged)
            return _NOTHING
        rows = await conn.fetch(
            _DELETE_AND_SELECT, acknowledged, self.high_water, limit, self._max_commit_wait,
            [g.first for g in self._gaps], [g.last for g in self._gaps],
        )
        self._unsettled.difference_update(acknowledged)
        first = rows[0]
        xmin = int(first[_XMIN])
        if first[SEQ] is None:  # nothing ready: the one row the outer join kept
            self._forget_closed_gaps(xmin, gaps_searched=True)
            return _NOTHING
        oldest_age_s = first[_OLDEST_AGE_S]
        seqs = list(map(itemgetter(SEQ), rows))
        if seqs != sorted(seqs):  # the plan returns them in order; everything below relies on it
            rows.sort(key=itemgetter(SEQ))
            seqs.sort()
        late = 0  # rows found in gaps come first: they are below the mark
        while late < len(seqs) and seqs[late] <= self.high_water:
            late += 1
        if late:
            self._fill_gaps(seqs[:late])
        self._forget_closed_gaps(xmin, gaps_searched=late < limit)
        if late < len(seqs):
            await self._open_gaps(conn, seqs[late:])
            self.high_water = seqs[-1]
        self._unsettled.update(seqs)
        return Selected(rows, seqs, oldest_age_s)

    async def sweep(self, conn: asyncpg.Connection) -> int:
        """Turn rows the cursor passed without noticing (see module docstring) into gaps."""
        gaps = self._gaps
        found = await conn.fetch(
            _SWEEP, self.high_water, list(self._unsettled),
            [g.first for g in gaps], [g.last for g in gaps],
        )
        if found:
            bound = await _next_transaction_id(conn)
            now = time.monotonic()
            self._gaps = sorted(
                gaps + [_Gap(r["seq"], r["seq"], now, bound) for r in found],
                key=lambda g: g.first,
            )
            log.warning("outbox_relay_rows_recovered", count=len(found),
                        seqs=[r["seq"] for r in found[:20]])
        return len(found)

    async def _open_gaps(self, conn: asyncpg.Connection, seqs: list[int]) -> None:
        """Remember the seqs between the mark and `seqs` (ascending, above it) not among them."""
        first, last = seqs[0], seqs[-1]
        if first == self.high_water + 1 and last - first + 1 == len(seqs):
            return  # contiguous: the common case, and no query
        bound = await _next_transaction_id(conn)
        now = time.monotonic()
        expected = self.high_water + 1
        for seq in seqs:
            if seq > expected:
                self._gaps.append(_Gap(expected, seq - 1, now, bound))
            expected = seq + 1

    def _fill_gaps(self, found: list[int]) -> None:
        """Take the seqs just selected (ascending, all inside gaps) out of the gaps."""
        remaining: list[_Gap] = []
        i = 0
        for gap in self._gaps:
            start = gap.first
            while i < len(found) and found[i] <= gap.last:
                seq = found[i]
                if seq > start:
                    remaining.append(_Gap(start, seq - 1, gap.seen_at, gap.bound))
                start = seq + 1
                i += 1
            if start <= gap.last:
                remaining.append(_Gap(start, gap.last, gap.seen_at, gap.bound))
        self._gaps = remaining

    def _forget_closed_gaps(self, xmin: int, *, gaps_searched: bool) -> None:
        """Drop gaps no row can appear in any more: their writers have all ended, this select
        looked into them (not cut short by the limit), and the grace period has passed."""
        if not gaps_searched or not self._gaps:
            return
        cutoff = time.monotonic() - GAP_GRACE_S
        self._gaps = [g for g in self._gaps if not (g.bound <= xmin and g.seen_at <= cutoff)]


async def _next_transaction_id(conn: asyncpg.Connection) -> int:
    """A transaction id assigned now (in its own, empty transaction): higher than any taken
    before. Costs an id, so it is asked for only when gaps appear."""
    return int(await conn.fetchval("SELECT pg_current_xact_id()::text"))

"""Writing events to the transactional outbox, in the same transaction as the state change.

`enqueue` stages events from inside the caller's transaction. A command whose change is one
statement can instead carry the outbox insert in that statement (`staging`): a single
statement is its own transaction, so change and events still commit together, in one round
trip instead of five. The relay is woken once the pool takes the connection back, after the
commit (`outbox_wake`); on a connection outside a pool, `enqueue` notifies at commit instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from contracts import CloudEvent, encode_event

from . import tracing
from .outbox_wake import _CHANNEL_SUFFIX, notify_channel, staged

__all__ = ["Staging", "enqueue", "notify_channel", "staging"]


@dataclass(frozen=True)
class Staging:
    """The outbox insert as a CTE named `outbox_staged`, for a statement's `WITH` list."""

    cte: str
    # A select-list expression: whether rows were staged. The relay is woken after the commit,
    # when the pool takes the connection back (run the statement on a pooled connection).
    wake: str
    args: tuple


def staging(events: Sequence[CloudEvent], *, first_param: int = 1, only_if: str = "true",
            traceparents: Sequence[str | None] | None = None) -> Staging:
    """Stage `events` from parameters `$first_param`…`$first_param+6`, if `only_if` holds.

    The caller runs the statement on a pooled connection, in this task. Each row keeps the trace context it continues: `traceparents` (one per event), else the
    current span's (`tracing`; NULL when tracing is off).
    """
    p = first_param
    cte = f"""outbox_staged AS (
        INSERT INTO outbox (event_id, event_type, topic, partition_key, value, correlation_id,
                            traceparent)
        SELECT * FROM unnest(${p}::text[], ${p + 1}::text[], ${p + 2}::text[], ${p + 3}::bytea[],
                             ${p + 4}::bytea[], ${p + 5}::text[], ${p + 6}::text[])
        WHERE {only_if}
        RETURNING 1)"""
    wake = "(SELECT true FROM outbox_staged LIMIT 1)"
    staged()
    args = (
        [e.id for e in events],
        [e.type for e in events],
        [e.data.topic.name for e in events],
        [e.partition_key().encode() for e in events],
        [encode_event(e) for e in events],
        [e.correlationid for e in events],
        traceparents if traceparents is not None
        else [tracing.current_traceparent()] * len(events),
    )
    return Staging(cte, wake, args)


async def enqueue(conn: asyncpg.Connection, events: Sequence[CloudEvent],
                  traceparents: Sequence[str | None] | None = None) -> None:
    """Stage events for publication; they leave only if the surrounding transaction commits."""
    if not events:
        return
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.enqueue must run inside the transaction of the state change")
    rows = staging(events, traceparents=traceparents)
    # A pooled connection's release wakes the relay after the commit; a connection of its own
    # has no release, so its transaction notifies (serialised at commit, as NOTIFY is).
    wake = rows.wake if isinstance(conn, PoolConnectionProxy) else (
        f"(SELECT pg_notify(current_schema() || '{_CHANNEL_SUFFIX}', '') "
        "FROM outbox_staged LIMIT 1)")
    await conn.execute(f"WITH {rows.cte} SELECT {wake}", *rows.args)

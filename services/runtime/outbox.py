"""Writing events to the transactional outbox, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from contracts import CloudEvent, encode_event

_CHANNEL_SUFFIX = "_outbox"


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that wakes a schema's relay."""
    return schema + _CHANNEL_SUFFIX


async def enqueue(conn: asyncpg.Connection, events: Sequence[CloudEvent]) -> None:
    """Stage events for publication; they leave only if the surrounding transaction commits."""
    if not events:
        return
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.enqueue must run inside the transaction of the state change")
    await conn.execute(
        """INSERT INTO outbox (event_id, event_type, topic, partition_key, value, correlation_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[],
                                $6::text[])""",
        [e.id for e in events],
        [e.type for e in events],
        [e.data.topic.name for e in events],
        [e.partition_key().encode() for e in events],
        [encode_event(e) for e in events],
        [e.correlationid for e in events],
    )
    # Delivered at commit: wakes the relay at once instead of at its next poll.
    await conn.execute("SELECT pg_notify(current_schema() || $1, '')", _CHANNEL_SUFFIX)

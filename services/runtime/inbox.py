"""The inbox: which events this service has already applied."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Delivery:
    """Where an event came from: enough to find the record again in the log."""

    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int


async def claim(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> set[str]:
    """Record deliveries as applied; return the ids not applied before (the ones to apply now).

    Runs in the transaction of the effect: if that rolls back, so does the claim.
    """
    if not deliveries:
        return set()
    rows = await conn.fetch(
        """INSERT INTO inbox (event_id, event_type, topic, kafka_partition, kafka_offset)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[])
           ON CONFLICT (event_id) DO NOTHING
           RETURNING event_id""",
        [d.event_id for d in deliveries],
        [d.event_type for d in deliveries],
        [d.topic for d in deliveries],
        [d.partition for d in deliveries],
        [d.offset for d in deliveries],
    )
    return {r["event_id"] for r in rows}

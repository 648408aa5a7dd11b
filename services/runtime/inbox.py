"""The inbox: which events this service has already applied."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from aiokafka.structs import ConsumerRecord

from contracts import CloudEvent


async def claim(
    conn: asyncpg.Connection, deliveries: Sequence[tuple[ConsumerRecord, CloudEvent]]
) -> set[str]:
    """Record (record, event) deliveries as applied; return the ids not applied before.

    Runs in the transaction of the effect: if that rolls back, so does the claim. The record's
    topic, partition and offset are kept to find the event in the log again.
    """
    if not deliveries:
        return set()
    rows = await conn.fetch(
        """INSERT INTO inbox (event_id, event_type, topic, kafka_partition, kafka_offset)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[])
           ON CONFLICT (event_id) DO NOTHING
           RETURNING event_id""",
        [e.id for _, e in deliveries],
        [e.type for _, e in deliveries],
        [r.topic for r, _ in deliveries],
        [r.partition for r, _ in deliveries],
        [r.offset for r, _ in deliveries],
    )
    return {r["event_id"] for r in rows}


async def claim_chunks(
    conn: asyncpg.Connection, chunks: asyncio.Queue[list | None]
) -> set[str]:
    """Claim each chunk of decoded deliveries (items with `.record` and `.event`) as it
    arrives, until None; return the fresh ids. Lets a consumer decode the next chunk while
    PostgreSQL inserts this one."""
    fresh: set[str] = set()
    while (chunk := await chunks.get()) is not None:
        fresh |= await claim(conn, [(r.record, r.event) for r in chunk])
    return fresh

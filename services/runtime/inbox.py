"""The inbox: which events this service has already applied, and which records of a batch an
earlier delivery dead-lettered (one statement answers both)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from aiokafka.structs import ConsumerRecord

from contracts import CloudEvent

Coordinates = tuple[str, int, int]

# The claim skips records already dead-lettered (their events must not be applied by a later
# delivery, nor marked applied: a dead letter put back on its topic is applied then), and, for
# the records it is asked to check, returns those.
_CLAIM = """
WITH sent AS (
    SELECT d.topic, d.kafka_partition, d.kafka_offset
    FROM unnest($6::text[], $7::int[], $8::bigint[], $9::bigint[])
         AS s(topic, kafka_partition, low, high)
    JOIN dead_letters_sent AS d USING (topic, kafka_partition)
    WHERE d.kafka_offset BETWEEN s.low AND s.high
), claimed AS (
    INSERT INTO inbox (event_id, event_type, topic, kafka_partition, kafka_offset)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[])
           AS i(event_id, event_type, topic, kafka_partition, kafka_offset)
    WHERE NOT EXISTS (SELECT FROM dead_letters_sent AS d
                      WHERE (d.topic, d.kafka_partition, d.kafka_offset)
                            = (i.topic, i.kafka_partition, i.kafka_offset))
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
SELECT event_id, NULL::text AS topic, NULL::int AS kafka_partition, NULL::bigint AS kafka_offset
FROM claimed
UNION ALL
SELECT NULL, topic, kafka_partition, kafka_offset FROM sent"""


def offset_spans(records: Sequence[ConsumerRecord]) -> list[list]:
    """One offset range per partition (topics, partitions, lows, highs): keeps the check's
    parameters small however large the batch."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for r in records:
        low, high = spans.get((r.topic, r.partition), (r.offset, r.offset))
        spans[(r.topic, r.partition)] = (min(low, r.offset), max(high, r.offset))
    return [[t for t, _ in spans], [p for _, p in spans], [lo for lo, _ in spans.values()],
            [hi for _, hi in spans.values()]]


async def claim(
    conn: asyncpg.Connection, deliveries: Sequence[tuple[ConsumerRecord, CloudEvent]],
    checked: Sequence[ConsumerRecord] = (),
) -> tuple[set[str], set[Coordinates]]:
    """Record (record, event) deliveries as applied; return the ids not applied before, and
    which of the `checked` records an earlier delivery dead-lettered (those are never claimed).

    Runs in the transaction of the effect: if that rolls back, so does the claim. The record's
    topic, partition and offset are kept to find the event in the log again.
    """
    if not deliveries and not checked:
        return set(), set()
    rows = await conn.fetch(
        _CLAIM,
        [e.id for _, e in deliveries],
        [e.type for _, e in deliveries],
        [r.topic for r, _ in deliveries],
        [r.partition for r, _ in deliveries],
        [r.offset for r, _ in deliveries],
        *offset_spans(checked),
    )
    fresh: set[str] = set()
    sent: set[Coordinates] = set()
    for r in rows:
        if r["event_id"] is not None:
            fresh.add(r["event_id"])
        else:
            sent.add((r["topic"], r["kafka_partition"], r["kafka_offset"]))
    return fresh, sent


async def claim_chunks(
    conn: asyncpg.Connection, chunks: asyncio.Queue[list | None],
    checked: Sequence[ConsumerRecord] = (),
) -> tuple[set[str], set[Coordinates]]:
    """Claim each chunk of decoded deliveries (items with `.record` and `.event`) as it
    arrives, until None; return the fresh ids and which of the `checked` records were
    dead-lettered (checked with the first chunk, or alone when none came). Lets a consumer
    decode the next chunk while PostgreSQL inserts this one."""
    fresh: set[str] = set()
    sent: set[Coordinates] = set()
    while (chunk := await chunks.get()) is not None:
        claimed, dead = await claim(conn, [(r.record, r.event) for r in chunk], checked)
        fresh |= claimed
        sent |= dead
        checked = ()
    if checked:
        sent |= (await claim(conn, [], checked))[1]
    return fresh, sent

"""`thidua replay <service> --rebuild` for a service whose handlers emit events (scoring): its
whole schema rebuilt beside the live one from every topic it consumes, then swapped in.

Emptying the live tables and letting the workers refill them would announce every old fact
again (a `score.changed` per subject per batch of history). Instead the rebuild:

1. checks that no worker of the service runs (it joins the service's group and must be given
   every partition, then leaves without committing);
2. migrates a fresh schema `<schema>_rebuild` and copies the dead-letter log into it (a record
   dead-lettered before is not sent to the DLQ again);
3. feeds the service's own consumer, on that schema and outside the group, every record from
   the first kept up to the end of each partition (the end moves while other services write:
   it reads until a poll finds nothing new), so the tables are built exactly as the workers
   build them; the events it writes to the shadow outbox are never published;
4. in one transaction: drops those outbox rows, carries over the live outbox's unpublished
   rows (the workers' relay stopped with them) and the tables commands fill
   (`ServiceDefinition.rebuild_keeps`), renames the live schema `<schema>_replaced_<UTC time>`
   and the rebuilt one to `<schema>`;
5. commits the service's group at the offsets the rebuild reached, as the group's only member.
   Should that fail, the workers start from their old offsets and the rebuilt inbox skips what
   the rebuild applied: nothing is applied twice either way.

The replaced schema is kept for comparison until an operator drops it. The service's API may
keep running: its statements name tables through the search path, and PostgreSQL replans
prepared statements when a schema is renamed, so they read the rebuilt tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.runtime.db import checked_schema, open_schema
from services.runtime.kafka import create_producer
from services.runtime.service import ServiceDefinition
from services.runtime.subscription import build_consumer

from .consumer_replay import ReplayRefused, join_as_the_only_member

# A poll that finds nothing for this long means the rebuild has read every partition's end.
IDLE_POLL_MS = 1500


@dataclass
class Rebuilt:
    schema: str
    replaced_by: str  # the live schema's new name, kept until dropped
    offsets: dict[TopicPartition, int]
    records: int = 0
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (before, after)
    committed: bool = False


def check_rebuildable(definition: ServiceDefinition, topics: tuple[str, ...]) -> tuple[str, ...]:
    """The tables carried over; refuses a service whose schema cannot be rebuilt whole, or a
    rebuild of only some of its topics (the rest of its tables would be lost)."""
    if definition.rebuild_keeps is None:
        raise ReplayRefused(f"{definition.name} cannot be rebuilt from its topics: its handlers "
                            "act outside its tables or beside its commands' state (only its "
                            "directory can: --topic thidua.org.v1)")
    consumed = tuple(sorted(t.name for t in definition.consumes))
    if tuple(sorted(topics)) != consumed:
        raise ReplayRefused(f"rebuilding {definition.name} reads every topic it consumes "
                            f"({', '.join(consumed)}); leave out --topic")
    return definition.rebuild_keeps


async def rebuild_schema(bootstrap_servers: str, database_url: str,
                         definition: ServiceDefinition, out: TextIO,
                         dry_run: bool = False) -> Rebuilt | None:
    keeps = check_rebuildable(definition, tuple(t.name for t in definition.consumes))
    settings = definition.settings
    live = checked_schema(definition.schema)
    shadow = checked_schema(f"{live}_rebuild")
    replaced = checked_schema(f"{live}_replaced_{datetime.now(UTC):%Y%m%d%H%M%S}")
    topics = sorted(t.name for t in definition.consumes)
    await join_as_the_only_member(bootstrap_servers, settings.group_id, definition.name, topics)
    if dry_run:
        out.write(f"would rebuild {live} in {shadow} from {', '.join(topics)}, keep "
                  f"{', '.join(keeps) or 'no command tables'}, and keep the live schema as "
                  f"{replaced}\n")
        return None
    await _drop(database_url, shadow)
    pool = await open_schema(database_url, shadow, (definition.name, definition.migrations_dir),
                             min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await _copy(conn, live, shadow, ("dead_letters_sent",))
        producer = create_producer(settings)  # for dead letters only; nothing else is sent
        await producer.start()
        try:
            consumer = build_consumer(settings, pool, producer, definition.all_handlers,
                                      repository=definition.repository, clock=definition.clock)
            offsets, records = await _feed(bootstrap_servers, topics, consumer.handle_batch,
                                           settings.consumer_max_records, out)
        finally:
            await producer.stop()
        done = Rebuilt(live, replaced, offsets, records)
        done.rows = await _swap(pool, live, shadow, replaced, keeps)
    except BaseException:
        await pool.close()
        await _drop(database_url, shadow)
        raise
    await pool.close()
    for table, (before, after) in sorted(done.rows.items()):
        out.write(f"{table}: {before} rows before, {after} after\n")
    out.write(f"{live} rebuilt from {records} records; the former tables are kept in schema "
              f"{replaced} (DROP SCHEMA {replaced} CASCADE when satisfied)\n")
    try:
        await join_as_the_only_member(bootstrap_servers, settings.group_id, definition.name,
                                      topics, commit=offsets)
        done.committed = True
        out.write(f"{settings.group_id} set to the offsets the rebuild reached\n")
    except ReplayRefused as exc:
        out.write(f"{settings.group_id} keeps its offsets ({exc}); the workers skip, by their "
                  "inbox, what the rebuild applied\n")
    out.write(f"start {definition.name}'s workers\n")
    return done


async def _feed(bootstrap_servers: str, topics: list[str], handle, max_records: int,
                out: TextIO) -> tuple[dict[TopicPartition, int], int]:
    """Every record of `topics` from the first kept, in batches, to `handle`; returns the
    offsets reached (the next to read per partition) and the number of records."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, client_id="thidua-rebuild",
                              enable_auto_commit=False, auto_offset_reset="earliest")
    await reader.start()
    try:
        await reader.topics()
        partitions = [TopicPartition(t, n) for t in topics
                      for n in sorted(reader.partitions_for_topic(t) or ())]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        records, shown = 0, time.monotonic()
        while batches := await reader.getmany(timeout_ms=IDLE_POLL_MS, max_records=max_records):
            batch = [r for tp in sorted(batches) for r in batches[tp]]
            await handle(batch)
            records += len(batch)
            if time.monotonic() - shown > 5:
                out.write(f"  {records} records applied\n")
                shown = time.monotonic()
        return {tp: await reader.position(tp) for tp in partitions}, records
    finally:
        await reader.stop()


async def _swap(pool: asyncpg.Pool, live: str, shadow: str, replaced: str,
                keeps: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    async with pool.acquire() as conn, conn.transaction():
        # Writers of the carried-over tables wait for the swap; PostgreSQL looks their names
        # up again once the lock is theirs, so they write into the rebuilt schema.
        for table in ("outbox", *keeps):
            await conn.execute(f"LOCK TABLE {live}.{table} IN EXCLUSIVE MODE")
        await conn.execute(f"DELETE FROM {shadow}.outbox")  # old facts, never to be announced
        await _copy(conn, live, shadow, ("outbox", *keeps))
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{shadow}.outbox', 'seq'), "
            f"(SELECT last_value FROM {live}.outbox_seq_seq))")
        rows = await _row_counts(conn, live, shadow)
        await conn.execute(f"ALTER SCHEMA {live} RENAME TO {replaced}")
        await conn.execute(f"ALTER SCHEMA {shadow} RENAME TO {live}")
    return rows


async def _copy(conn: asyncpg.Connection, source: str, target: str,
                tables: tuple[str, ...]) -> None:
    for table in tables:
        await conn.execute(f"TRUNCATE {target}.{table}")
        await conn.execute(f"INSERT INTO {target}.{table} SELECT * FROM {source}.{table}")


async def _row_counts(conn: asyncpg.Connection, live: str,
                      shadow: str) -> dict[str, tuple[int, int]]:
    """Rows per table before and after, for the tables both schemas have, in one query."""
    tables = [r["table_name"] for r in await conn.fetch(
        """SELECT table_name FROM information_schema.tables
            WHERE table_schema = $1 AND table_type = 'BASE TABLE'
              AND table_name <> 'schema_migrations'
              AND table_name IN (SELECT table_name FROM information_schema.tables
                                  WHERE table_schema = $2)
            ORDER BY table_name""", shadow, live)]
    if not tables:
        return {}
    counts = " UNION ALL ".join(
        f"SELECT '{t}', (SELECT count(*) FROM {live}.{t}), (SELECT count(*) FROM {shadow}.{t})"
        for t in tables)
    return {t: (before, after) for t, before, after in await conn.fetch(counts)}


async def _drop(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {checked_schema(schema)} CASCADE")
    finally:
        await conn.close()

"""Events applied per second by one consumer of the shared runtime, beside PostgreSQL's ceilings.

Produces N `thidua.initiative.submitted.v1` events to a fresh topic once, then, in the same run:

1. PostgreSQL ceilings for the same rows: one upsert round trip per row (batches of B rows in
   one transaction each), and one `unnest` array upsert per batch of B rows;
2. one consumer (FastStream batch subscriber → EventConsumer: decode, inbox claim, handler, one
   transaction and one offset commit per batch) with a **per-event** handler: one upsert each;
3. the same consumer with a **batch** handler doing the same work as one `unnest` upsert;
4. the same consumer running scoring's real handler (ledger lines, totals, coalesced
   `score.changed` written to the outbox).

Each consumer is timed from its first applied batch to the last event (the group join, ~3 s
on tansu, is printed apart). Ratios are against the ceilings measured in this run.

    python -m benchmarks.consumer_throughput [--events 50000] [--partitions 6] [--batch 2000]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import CloudEvent, decode_event, encode_event
from contracts.events.initiatives import InitiativeSubmitted
from services.devstack.infrastructure import provide_infrastructure
from services.devstack.topics import ensure_topics
from services.runtime.context import Context
from services.runtime.db import open_schema
from services.runtime.handlers import Handlers
from services.runtime.logs import configure_logging
from services.runtime.settings import ServiceSettings
from services.runtime.subscription import start_consumer
from services.scoring.app import definition as scoring_definition
from services.scoring.repository import ScoringRepository
from services.scoring.settings import ScoringSettings
from tests.support.events import initiative_submitted

UPSERT_ONE = """
    INSERT INTO submissions (initiative_id, unit_id, benefit_vnd) VALUES ($1, $2, $3)
    ON CONFLICT (initiative_id) DO UPDATE SET benefit_vnd = EXCLUDED.benefit_vnd"""
UPSERT_MANY = """
    INSERT INTO submissions (initiative_id, unit_id, benefit_vnd)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
    ON CONFLICT (initiative_id) DO UPDATE SET benefit_vnd = EXCLUDED.benefit_vnd"""
TABLE = "CREATE TABLE submissions (initiative_id text PRIMARY KEY, unit_id text, benefit_vnd bigint)"

per_event = Handlers()
batched = Handlers()


@per_event.on
async def project_one(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None:
    data = event.data
    await ctx.conn.execute(UPSERT_ONE, data.initiative_id, data.unit_id, data.claimed_benefit_vnd)


@batched.batch
async def project_all(ctx: Context, events: list[CloudEvent[InitiativeSubmitted]]) -> None:
    await ctx.conn.execute(
        UPSERT_MANY, [e.data.initiative_id for e in events], [e.data.unit_id for e in events],
        [e.data.claimed_benefit_vnd for e in events],
    )


async def produce(bootstrap: str, topic: str, count: int) -> tuple[list[tuple], list[bytes]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=64 * 1024)
    await producer.start()
    rows, values, futures = [], [], []
    for i in range(count):
        event = initiative_submitted(unit_id=f"u-{i % 5000:05d}")
        value = encode_event(event)
        values.append(value)
        rows.append((event.data.initiative_id, event.data.unit_id, 35_000_000))
        futures.append(await producer.send(topic, value, key=event.partition_key().encode()))
    await asyncio.gather(*futures)
    await producer.stop()
    return rows, values


def decode_ceiling(values: Sequence[bytes]) -> float:
    """Events/s decoded and validated by this process alone (the consumer's own CPU bound)."""
    started = time.perf_counter()
    for value in values:
        decode_event(value)
    return len(values) / (time.perf_counter() - started)


async def ceilings(pool: asyncpg.Pool, rows: Sequence[tuple], batch: int) -> tuple[float, float]:
    """Rows/s for one upsert round trip per row, and for one array upsert per batch."""
    await pool.execute("TRUNCATE submissions")
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for i in range(0, len(rows), batch):
            async with conn.transaction():
                for row in rows[i:i + batch]:
                    await conn.execute(UPSERT_ONE, *row)
    per_row = len(rows) / (time.perf_counter() - started)
    await pool.execute("TRUNCATE submissions")
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for i in range(0, len(rows), batch):
            chunk = rows[i:i + batch]
            async with conn.transaction():
                await conn.execute(UPSERT_MANY, *(list(col) for col in zip(*chunk, strict=True)))
    array = len(rows) / (time.perf_counter() - started)
    await pool.execute("TRUNCATE submissions")
    return per_row, array


async def consume(settings: ServiceSettings, pool, handlers: Handlers, topic: str, events: int,
                  repository=lambda conn: None) -> tuple[float, float, object]:
    """Return (seconds to join and apply a first batch, events/s after that, stats)."""
    dlq_producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await dlq_producer.start()
    joined = time.perf_counter()
    broker, consumer = await start_consumer(settings, pool, dlq_producer, handlers,
                                            repository=repository, topics=[topic])
    while consumer.stats.applied == 0:
        await asyncio.sleep(0.005)
    first = time.perf_counter()
    while consumer.stats.applied + consumer.stats.duplicates < events:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - first
    await broker.stop()
    await dlq_producer.stop()
    return first - joined, consumer.stats.applied / elapsed, consumer.stats


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    run_id = uuid.uuid4().hex[:8]
    topic = f"thidua.bench-{run_id}.v1"
    await ensure_topics(bootstrap, [(topic, args.partitions), (f"{topic}.dlq", args.partitions)])
    rows, values = await produce(bootstrap, topic, args.events)
    record_bytes = sum(map(len, values)) // len(values)
    print(f"produced {args.events:,} events of {record_bytes} B on {args.partitions} partitions; "
          f"batches of up to {args.batch}")

    pool = await open_schema(database_url, f"bench_{run_id}", max_size=4)
    await pool.execute(TABLE)
    per_row, array = await ceilings(pool, rows, args.batch)
    print(f"ceiling  one upsert round trip per row      {per_row:>9,.0f} rows/s")
    print(f"ceiling  one unnest upsert per batch        {array:>9,.0f} rows/s")
    decoding = decode_ceiling(values)
    print(f"ceiling  decoding and validating the events {decoding:>9,.0f} events/s (CPU, no I/O)")

    def settings(name: str, cls=ServiceSettings, **extra) -> ServiceSettings:
        return cls(kafka_bootstrap_servers=bootstrap, database_url=database_url,
                   service_name=f"bench-{name}", consumer_group=f"bench-{name}-{run_id}",
                   consumer_max_records=args.batch, consumer_session_timeout_ms=6000,
                   consumer_heartbeat_interval_ms=500, **extra)

    results = {}
    for name, handlers in (("per-event", per_event), ("batch", batched)):
        schema_pool = await open_schema(database_url, f"bench_{name.replace('-', '_')}_{run_id}",
                                        max_size=4)
        await schema_pool.execute(TABLE)
        join_s, rate, stats = await consume(settings(name), schema_pool, handlers, topic,
                                            args.events)
        results[name] = rate
        print(f"consumer {name:<9} handler (same upserts)   {rate:>9,.0f} events/s  "
              f"= {rate / array:.2f} of the unnest ceiling, {rate / per_row:.2f} of the "
              f"per-row ceiling, {rate / decoding:.2f} of decoding  (join {join_s:.1f} s, "
              f"{stats.batches} batches)")
        await schema_pool.close()

    scoring = scoring_definition(settings("scoring", ScoringSettings,
                                          db_schema=f"bench_scoring_{run_id}"))
    scoring_pool = await open_schema(database_url, scoring.schema,
                                     (scoring.name, scoring.migrations_dir), max_size=4)
    join_s, rate, stats = await consume(scoring.settings, scoring_pool, scoring.handlers, topic,
                                        args.events, repository=ScoringRepository)
    outbox = await scoring_pool.fetchval("SELECT count(*) FROM outbox")
    print(f"consumer scoring's real batch handler       {rate:>9,.0f} events/s  "
          f"= {rate / array:.2f} of the unnest ceiling  (ledger lines, totals, "
          f"{outbox:,} coalesced score.changed in the outbox for {args.events:,} events)")
    print(f"batch form / per-event form: {results['batch'] / results['per-event']:.1f}x")
    await scoring_pool.close()
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2000, help="max records per batch")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()

"""Events applied per second by one consumer of the shared runtime, on the real broker and database.

Produces N `thidua.initiative.submitted.v1` events to a fresh topic, then starts one consumer
(FastStream batch subscriber → EventConsumer: decode, inbox claim, handler, one transaction and
one offset commit per batch) and times it from its first applied batch to the last event.
The handler writes one row per event, like a real projection.

    python -m benchmarks.consumer_throughput [--events 50000] [--partitions 6] [--batch 500]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaProducer

from contracts import encode_event
from services.devstack.infrastructure import provide_infrastructure
from services.devstack.topics import ensure_topics
from services.runtime.db import open_schema
from services.runtime.logs import configure_logging
from services.runtime.settings import ServiceSettings
from services.runtime.subscription import start_consumer
from tests.support.events import initiative_submitted


async def project(conn, event) -> None:
    await conn.execute(
        "INSERT INTO submissions (initiative_id, unit_id, benefit_vnd) VALUES ($1, $2, $3)",
        event.data.initiative_id, event.data.unit_id, event.data.claimed_benefit_vnd,
    )


async def produce(bootstrap: str, topic: str, count: int) -> tuple[float, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=64 * 1024)
    await producer.start()
    started = time.perf_counter()
    size = 0
    futures = []
    for i in range(count):
        value = encode_event(initiative_submitted(unit_id=f"u-{i % 5000:05d}"))
        size += len(value)
        futures.append(await producer.send(topic, value, key=f"u-{i % 5000:05d}".encode()))
    await asyncio.gather(*futures)
    await producer.stop()
    return time.perf_counter() - started, size // count


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    run_id = uuid.uuid4().hex[:8]
    topic = f"thidua.bench-{run_id}.v1"
    await ensure_topics(bootstrap, [(topic, args.partitions), (f"{topic}.dlq", args.partitions)])
    produce_s, record_bytes = await produce(bootstrap, topic, args.events)
    print(f"produced {args.events} events ({record_bytes} B each) in {produce_s:.2f} s: "
          f"{args.events / produce_s:,.0f}/s")

    schema = f"bench_{run_id}"
    pool = await open_schema(database_url, schema, max_size=4)
    await pool.execute("CREATE TABLE submissions (initiative_id text PRIMARY KEY, unit_id text, "
                       "benefit_vnd bigint)")
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, service_name="bench",
                               consumer_group=f"bench-{run_id}", consumer_max_records=args.batch)
    dlq_producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await dlq_producer.start()
    joined = time.perf_counter()
    broker, consumer = await start_consumer(
        settings, pool, dlq_producer, {"thidua.initiative.submitted.v1": project}, [topic]
    )
    while consumer.stats.applied == 0:
        await asyncio.sleep(0.005)
    first = time.perf_counter()
    while consumer.stats.applied < args.events:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - first
    rows = await pool.fetchval("SELECT count(*) FROM submissions")
    print(f"group joined and first batch applied after {first - joined:.2f} s")
    print(f"applied {consumer.stats.applied} events in {elapsed:.2f} s: "
          f"{consumer.stats.applied / elapsed:,.0f} events/s with one consumer "
          f"({consumer.stats.batches} batches, {rows} rows written, "
          f"{consumer.stats.dead_lettered} dead-lettered)")
    await broker.stop()
    await dlq_producer.stop()
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch", type=int, default=500, help="max records per batch")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()

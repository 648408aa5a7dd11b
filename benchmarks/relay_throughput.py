"""Events published per second by the outbox relay, beside the raw aiokafka produce ceiling.

Stages N events in the outbox (as services do, in transactions of `--per-tx` events), then
measures, on the same broker and with the same producer options (`create_producer`: acks=all,
lz4, linger and batch size from the settings):

1. the **produce ceiling**: a bare aiokafka producer sending those very records (same topic,
   key, value and header) as fast as it can, until every ack is in;
2. the **relay**: one `OutboxRelay` started on the staged outbox, timed until every row is
   published and deleted;
3. the produce ceiling once more, because the broker and these shared machines drift.

All three use one producer, warmed up first (5,000 records, not counted).

The ratio is taken against the higher of the two ceilings. Absolute figures move between runs
and machines by 2x; compare the ratio.

    python -m benchmarks.relay_throughput [--events 50000] [--batch 500] [--per-tx 50]
                                          [--units 5000] [--in-flight 4]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import time
import uuid

from aiokafka import AIOKafkaProducer

from contracts import CLOUDEVENTS_CONTENT_TYPE
from services.runtime import outbox
from services.runtime.db import open_schema
from services.runtime.infra import provide_infrastructure
from services.runtime.kafka import create_producer
from services.runtime.logs import configure_logging
from services.runtime.relay import OutboxRelay
from services.runtime.settings import ServiceSettings
from services.runtime.topics_admin import all_topic_specs, ensure_topics
from tests.support.events import initiative_submitted


async def produce_ceiling(producer: AIOKafkaProducer, records: list) -> float:
    """Records per second a bare producer with the relay's options reaches on these records."""
    headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]
    started = time.perf_counter()
    futures = [
        await producer.send(topic, value, key=key, headers=headers)
        for topic, key, value in records
    ]
    await asyncio.gather(*futures)
    return len(records) / (time.perf_counter() - started)


async def relay_rate(
    producer: AIOKafkaProducer, database_url: str, schema: str, pool, total: int,
    args: argparse.Namespace,
) -> tuple[float, OutboxRelay]:
    """Events per second one relay publishes and deletes, from its start to an empty outbox."""
    options = {"batch_size": args.batch}
    if "max_in_flight_batches" in inspect.signature(OutboxRelay).parameters:
        options["max_in_flight_batches"] = args.in_flight
    relay = OutboxRelay(database_url, schema, producer, **options)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    # Cheap in-process check first; count the table only once everything was acknowledged.
    while relay.stats.published < total or await pool.fetchval("SELECT count(*) FROM outbox"):
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return relay.stats.published / elapsed, relay


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    await ensure_topics(bootstrap, all_topic_specs())
    schema = f"relaybench_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, max_size=4)
    started = time.perf_counter()
    for start in range(0, args.events, args.per_tx):
        events = [initiative_submitted(unit_id=f"u-{i % args.units:05d}")
                  for i in range(start, start + args.per_tx)]
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, events)
    staged = time.perf_counter() - started
    rows = await pool.fetch("SELECT topic, partition_key, value FROM outbox ORDER BY seq")
    records = [(r["topic"], r["partition_key"], r["value"]) for r in rows]
    total = len(records)
    size = sum(len(v) for _, _, v in records) // total
    print(f"staged {total} events ({size} B each) in {staged:.2f} s: {total / staged:,.0f}/s "
          f"(transactions of {args.per_tx}, event built and encoded included)")

    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, service_name="relay-bench")
    options = (f"acks={settings.producer_acks}, {settings.producer_compression}, "
               f"linger {settings.producer_linger_ms} ms, "
               f"batches of {settings.producer_max_batch_bytes // 1024} KiB")
    # One producer for all three runs: connections, metadata and buffers warmed up alike.
    producer = create_producer(settings)
    await producer.start()
    try:
        await produce_ceiling(producer, records[:5_000])  # warm-up, not counted
        before = await produce_ceiling(producer, records)
        print(f"produce ceiling (bare aiokafka, {options}): {before:,.0f} records/s")
        rate, relay = await relay_rate(producer, database_url, schema, pool, total, args)
        print(f"relay published {relay.stats.published} events: {rate:,.0f} events/s "
              f"({relay.stats.batches} batches of up to {args.batch}, "
              f"{relay.stats.errors} errors)")
        after = await produce_ceiling(producer, records)
        print(f"produce ceiling again: {after:,.0f} records/s")
    finally:
        await producer.stop()
    ceiling = max(before, after)
    print(f"RESULT relay {rate:,.0f} events/s, ceiling {ceiling:,.0f} records/s, "
          f"ratio {rate / ceiling:.2f}")
    await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500, help="relay batch size")
    parser.add_argument("--per-tx", type=int, default=50, help="events per staging transaction")
    parser.add_argument("--units", type=int, default=5000,
                        help="distinct units (partition keys) the events are about")
    parser.add_argument("--in-flight", type=int, default=4,
                        help="relay batches awaiting Kafka's acks at once")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()

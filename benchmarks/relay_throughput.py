"""Events published per second by the outbox relay, beside the raw aiokafka produce ceiling.

Stages `--rounds` outboxes of `--events` events each (as services do: `outbox.enqueue` in
transactions of `--per-tx` events, about `--units` distinct units, i.e. partition keys), then
alternates, on the same broker and with one producer built by `create_producer` (acks=all,
lz4, linger and batch size from the settings, warmed up first):

    produce ceiling, relay round 1, produce ceiling, relay round 2, ..., produce ceiling

- **produce ceiling**: the bare producer sending the very records the relay publishes (same
  topic, key, value and header) as fast as it can with plain `send(topic, value, key=...)`,
  until every ack is in;
- **relay round**: one `OutboxRelay` started on a staged outbox, timed until every row is
  published and deleted.

The relay names each record's partition itself (`relay_partitions`), which saves aiokafka's
per-record partitioning; so each ceiling is also measured that way, and the relay's ratio to
it is printed beside the ratio to the plain ceiling.

The process runs with the services' garbage-collector settings (`gc_tuning`), for both.

Each round's ratios are taken against the higher of the two ceilings measured around it (these
machines are shared and drift); the result is the median round of each. Absolute figures move
between runs and machines by 2x: compare the ratios.

    python -m benchmarks.relay_throughput [--events 50000] [--rounds 3] [--batch 500]
                                          [--in-flight 8] [--per-tx 50] [--units 5000]
                                          [--traced]

`--traced` stages every transaction inside a span (tracing on, spans not exported), so each row
keeps a `traceparent` the relay writes into its record's headers; the ceilings then send the
same two headers.

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import nullcontext

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace import TracerProvider

from contracts import CLOUDEVENTS_CONTENT_TYPE
from services.devstack.infrastructure import provide_infrastructure
from services.devstack.topics import all_topic_specs, ensure_topics
from services.runtime import outbox, tracing
from services.runtime.db import open_schema
from services.runtime.gc_tuning import freeze_startup_objects
from services.runtime.kafka import create_producer
from services.runtime.logs import configure_logging
from services.runtime.relay import OutboxRelay
from services.runtime.relay_partitions import partition_for, partitions
from services.runtime.settings import ServiceSettings
from tests.support.events import initiative_submitted


async def produce_ceiling(producer: AIOKafkaProducer, records: list) -> float:
    """Records per second a bare producer with the relay's options reaches on these records."""
    started = time.perf_counter()
    futures = [
        await producer.send(topic, value, key=key, headers=headers)
        for topic, key, value, headers in records
    ]
    await asyncio.gather(*futures)
    return len(records) / (time.perf_counter() - started)


async def produce_ceiling_partitions_named(producer: AIOKafkaProducer, records: list) -> float:
    """The same, naming each record's partition as the relay does (`relay_partitions`)."""
    topic_partitions = {t: await partitions(producer, t) for t in {r[0] for r in records}}
    started = time.perf_counter()
    futures = [
        await producer.send(topic, value, key=key, headers=headers,
                            partition=partition_for(key, topic_partitions[topic]))
        for topic, key, value, headers in records
    ]
    await asyncio.gather(*futures)
    return len(records) / (time.perf_counter() - started)


async def ceilings(producer: AIOKafkaProducer, records: list) -> tuple[float, float]:
    plain = await produce_ceiling(producer, records)
    named = await produce_ceiling_partitions_named(producer, records)
    print(f"  produce ceiling {plain:>8,.0f} records/s "
          f"({named:,.0f} with partitions named as the relay does)")
    return plain, named


async def relay_rate(
    producer: AIOKafkaProducer, database_url: str, schema: str, pool, total: int,
    args: argparse.Namespace,
) -> tuple[float, OutboxRelay]:
    """Events per second one relay publishes and deletes, from its start to an empty outbox."""
    relay = OutboxRelay(database_url, schema, producer, batch_size=args.batch,
                        max_in_flight_batches=args.in_flight)
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


async def stage(pool, args: argparse.Namespace) -> None:
    tracer = None
    if args.traced:
        provider = TracerProvider()  # no span processor: spans are made, none exported
        tracing.use(provider)
        tracer = provider.get_tracer("relay-bench")
    for start in range(0, args.events, args.per_tx):
        events = [initiative_submitted(unit_id=f"u-{i % args.units:05d}")
                  for i in range(start, start + args.per_tx)]
        with tracer.start_as_current_span("stage") if tracer else nullcontext():
            async with pool.acquire() as conn, conn.transaction():
                await outbox.enqueue(conn, events)


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    await ensure_topics(bootstrap, all_topic_specs())
    run_id = uuid.uuid4().hex[:8]
    pools = {}
    started = time.perf_counter()
    for round_ in range(args.rounds):  # one outbox per round, all staged before any timing
        schema = f"relaybench_{run_id}_{round_}"
        pools[schema] = await open_schema(database_url, schema, max_size=4)
        await stage(pools[schema], args)
    staged = time.perf_counter() - started
    first = next(iter(pools.values()))
    rows = await first.fetch(
        "SELECT topic, partition_key, value, traceparent FROM outbox ORDER BY seq")
    content_type = ("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())
    records = [(r["topic"], r["partition_key"], r["value"],
                [content_type] + ([("traceparent", r["traceparent"].encode())]
                                  if r["traceparent"] else []))
               for r in rows]
    total = len(records)
    size = sum(len(r[2]) for r in records) // total
    print(f"staged {args.rounds} x {total} events ({size} B each, {args.units} partition keys) "
          f"in {staged:.2f} s: {args.rounds * total / staged:,.0f}/s "
          f"(transactions of {args.per_tx}, event built and encoded included; "
          f"{'traced: rows keep a traceparent' if args.traced else 'tracing off'})")

    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, service_name="relay-bench")
    print(f"producer: acks={settings.producer_acks}, {settings.producer_compression}, "
          f"linger {settings.producer_linger_ms} ms, "
          f"batches of {settings.producer_max_batch_bytes // 1024} KiB; relay batches of "
          f"{args.batch}, {args.in_flight} in flight")
    # One producer for every run: connections, metadata and buffers warmed up alike.
    producer = create_producer(settings)
    await producer.start()
    freeze_startup_objects()  # as a service does once started (gc_tuning): both runs alike
    ratios = []
    try:
        await produce_ceiling(producer, records[:5_000])  # warm-up, not counted
        ceiling = await ceilings(producer, records)
        for schema, pool in pools.items():
            rate, relay = await relay_rate(producer, database_url, schema, pool, total, args)
            print(f"  relay           {rate:>8,.0f} events/s "
                  f"({relay.stats.batches} batches, {relay.stats.errors} errors)")
            next_ceiling = await ceilings(producer, records)
            # Against the better of the two ceilings measured around it: the conservative ratio.
            ratios.append((rate, max(ceiling[0], next_ceiling[0]),
                           max(ceiling[1], next_ceiling[1])))
            ceiling = next_ceiling
    finally:
        await producer.stop()
    for pool in pools.values():
        await pool.close()
    for schema in pools:
        await _drop_schema(database_url, schema)
    print("ratios: " + ", ".join(f"{r / c:.2f}" for r, c, _ in ratios)
          + "; against the ceiling with partitions named: "
          + ", ".join(f"{r / n:.2f}" for r, _, n in ratios))
    rate, ceiling, _ = _median(ratios, lambda r: r[0] / r[1])
    rate_n, _, named = _median(ratios, lambda r: r[0] / r[2])
    print(f"RESULT (median rounds) relay {rate:,.0f} events/s, produce ceiling {ceiling:,.0f} "
          f"records/s, ratio {rate / ceiling:.2f}; with partitions named: relay "
          f"{rate_n:,.0f} events/s, ceiling {named:,.0f} records/s, ratio {rate_n / named:.2f}")


def _median(rounds: list, ratio):
    return sorted(rounds, key=ratio)[len(rounds) // 2]


async def _drop_schema(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events per round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="relay runs, each between two produce-ceiling runs")
    parser.add_argument("--batch", type=int, default=500, help="relay batch size")
    parser.add_argument("--per-tx", type=int, default=50, help="events per staging transaction")
    parser.add_argument("--units", type=int, default=5000,
                        help="distinct units (partition keys) the events are about")
    parser.add_argument("--in-flight", type=int, default=8,
                        help="relay batches awaiting Kafka's acks at once")
    parser.add_argument("--traced", action="store_true",
                        help="stage inside spans: rows keep a traceparent, records carry it")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()

"""What this machine allows, measured in the system benchmark's own run, each against the same
infrastructure the services use: the broker (a bare aiokafka producer and consumer) and
PostgreSQL (COPY, batched upsert, single-row transactions). The services' figures are printed
as fractions of these."""

from __future__ import annotations

import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.command_throughput import transaction_ceiling
from benchmarks.consumer_throughput import TABLE
from benchmarks.consumer_throughput import ceilings as upsert_ceilings
from benchmarks.directory_import import copy_ceiling
from benchmarks.relay_throughput import produce_ceiling
from contracts import CLOUDEVENTS_CONTENT_TYPE, encode_event
from services.devstack.topics import ensure_topics
from services.runtime.db import open_schema
from services.runtime.kafka import create_producer
from services.runtime.settings import ServiceSettings
from tests.support.events import initiative_submitted

PARTITIONS = 12  # as thidua.initiatives.v1


async def consume_ceiling(bootstrap: str, topic: str, expected: int) -> float:
    """Records per second a bare consumer reads back from every partition of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        read = 0
        started = time.perf_counter()
        deadline = started + 300
        while read < expected:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"read {read:,} of {expected:,} records of {topic} in 300 s")
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            read += sum(len(records) for records in batch.values())
        return read / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def measure(bootstrap: str, database_url: str, run_id: str, members_csv: Path,
                  events: int, concurrency: int) -> dict[str, float]:
    """Every ceiling, in rows, records or transactions per second."""
    topic = f"thidua.sysbench-ceiling-{run_id}.v1"
    await ensure_topics(bootstrap, [(topic, PARTITIONS)])
    content_type = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]
    built = [initiative_submitted(unit_id=f"u-{n % 1000:04d}") for n in range(events)]
    records = [(topic, e.partition_key().encode(), encode_event(e), content_type) for e in built]
    # The services' own producer options (acks=all, compression, linger), warmed up first.
    producer = create_producer(ServiceSettings(kafka_bootstrap_servers=bootstrap,
                                               service_name="sysbench-ceiling"))
    await producer.start()
    try:
        await produce_ceiling(producer, records[:min(2_000, events)])
        produced = await produce_ceiling(producer, records)
    finally:
        await producer.stop()
    consumed = await consume_ceiling(bootstrap, topic, events + min(2_000, events))

    copied, copy_s = await copy_ceiling(database_url, members_csv)
    pool = await open_schema(database_url, f"sysbench_{run_id}_ceiling", max_size=4)
    try:
        await pool.execute(TABLE)
        rows = [(e.data.initiative_id, e.data.unit_id, e.data.claimed_benefit_vnd)
                for e in built[:20_000]]
        per_row, batched = await upsert_ceilings(pool, rows, 500)
    finally:
        await pool.close()
    single = await transaction_ceiling(database_url, concurrency, max(500, min(events, 10_000)))
    return {"kafka_produce_records_per_s": produced, "kafka_consume_records_per_s": consumed,
            "pg_copy_rows_per_s": copied / copy_s, "pg_batched_upsert_rows_per_s": batched,
            "pg_upsert_round_trip_rows_per_s": per_row,
            "pg_single_row_transactions_per_s": single}

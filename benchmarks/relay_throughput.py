"""Events published per second by the outbox relay, on the real broker and database.

Stages N events in the outbox (as services do, in transactions of `--per-tx` events), then
starts one relay and times it until the outbox is empty.

    python -m benchmarks.relay_throughput [--events 50000] [--batch 500] [--per-tx 50]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from services.devstack.infrastructure import provide_infrastructure
from services.devstack.topics import all_topic_specs, ensure_topics
from services.runtime import outbox
from services.runtime.db import open_schema
from services.runtime.kafka import create_producer
from services.runtime.logs import configure_logging
from services.runtime.relay import OutboxRelay
from services.runtime.settings import ServiceSettings
from tests.support.events import initiative_submitted


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    await ensure_topics(bootstrap, all_topic_specs())
    schema = f"relaybench_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, max_size=4)
    started = time.perf_counter()
    for _ in range(0, args.events, args.per_tx):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, [initiative_submitted() for _ in range(args.per_tx)])
    staged = time.perf_counter() - started
    total = await pool.fetchval("SELECT count(*) FROM outbox")
    print(f"staged {total} events in {staged:.2f} s: {total / staged:,.0f}/s "
          f"(transactions of {args.per_tx}, event built and encoded included)")

    producer = create_producer(ServiceSettings(kafka_bootstrap_servers=bootstrap))
    await producer.start()
    relay = OutboxRelay(database_url, schema, producer, batch_size=args.batch)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    while await pool.fetchval("SELECT count(*) FROM outbox"):
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    print(f"relay published {relay.stats.published} events in {elapsed:.2f} s: "
          f"{relay.stats.published / elapsed:,.0f} events/s "
          f"({relay.stats.batches} batches of up to {args.batch}, acks=all, lz4)")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await producer.stop()
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500, help="relay batch size")
    parser.add_argument("--per-tx", type=int, default=50, help="events per staging transaction")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()

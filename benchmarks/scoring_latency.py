"""Delay from an event's publish to its score being visible, at a steady rate.

One scoring worker (real handlers), in a process of its own as deployed, consumes a private
topic while this process publishes the realistic mix (`tests/support/scoring_mix.py`) at a steady `--rate` events/s for `--seconds`,
and a reader polls scoring's ledger every `--poll-ms` for new lines. An event's delay is from
just before its `send` to the first poll that sees a ledger line it caused (events that change
no score — a pledge signed, a rejection — have none and are not counted). Prints p50/p99
beside the raw ceiling of the same run: the publish → consume delay of a bare aiokafka
consumer on the same topic (no decoding, no database). Then the worker's statements per batch,
by kind, with the client's wait for each.

Target: p99 < 100 ms at 1,000 events/s.

    python -m benchmarks.scoring_latency [--rate 1000] [--seconds 30] [--batch 2000]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.scoring_stream import (
    DEPLOYED_BATCH,
    WorkerProcess,
    private_topic,
    produce,
    summary,
)
from contracts import encode_event
from services.devstack.infrastructure import provide_infrastructure
from services.runtime.logs import configure_logging
from tests.support.scoring_mix import scoring_mix


async def publish_steadily(bootstrap: str, topic: str, events, rate: float,
                           sent_at: dict[str, float]) -> float:
    """Publish at `rate` events/s in 10 ms slices; return the rate achieved."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    started = time.perf_counter()
    for i, event in enumerate(events):
        due = started + i / rate
        if (ahead := due - time.perf_counter()) > 0:
            await asyncio.sleep(ahead)
        sent_at[event.id] = time.perf_counter()
        await producer.send(topic, encode_event(event), key=event.partition_key().encode())
    await producer.flush()
    achieved = len(events) / (time.perf_counter() - started)
    await producer.stop()
    return achieved


async def watch_ledger(conn: asyncpg.Connection, seen_at: dict[str, float], poll_s: float,
                       stop: asyncio.Event) -> None:
    last = 0
    while not stop.is_set():
        rows = await conn.fetch(
            "SELECT entry_id, source_event_id FROM score_entries WHERE entry_id > $1",
            last)
        now = time.perf_counter()
        for entry_id, source in rows:
            seen_at.setdefault(source, now)
            last = max(last, entry_id)
        await asyncio.sleep(poll_s)


async def applied(conn: asyncpg.Connection, count: int) -> None:
    """Until the worker has applied `count` events (its inbox holds them)."""
    while await conn.fetchval("SELECT count(*) FROM inbox") < count:
        await asyncio.sleep(0.01)


async def watch_topic(bootstrap: str, topic: str, seen_at: dict[str, float],
                      stop: asyncio.Event) -> None:
    """The ceiling: when a bare consumer of the topic gets each record."""
    from contracts import decode_event  # only the id is needed; decoded after timing
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", fetch_max_wait_ms=5)
    await consumer.start()
    await consumer.seek_to_end()
    raw: list[tuple[float, bytes]] = []
    while not stop.is_set():
        got = await consumer.getmany(timeout_ms=20)
        now = time.perf_counter()
        raw += [(now, r.value) for records in got.values() for r in records]
    await consumer.stop()
    for now, value in raw:
        seen_at.setdefault(decode_event(value).id, now)


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    run_id = uuid.uuid4().hex[:8]
    topic = f"thidua.bench-latency-{run_id}.v1"
    await private_topic(bootstrap, topic, args.partitions)
    count = int(args.rate * args.seconds)
    units = count // 15 + 40  # the mix has ~17 events per unit with these settings
    mix = scoring_mix(f"cmp-latency-{run_id}", units=units, members_per_unit=40,
                      registering_members=2)
    # Warm up: the launch and the first units, applied before the clock starts.
    warm = [mix.launch, *mix.events[:500]]
    await produce(bootstrap, topic, warm)
    # The worker in a process of its own, as deployed: the publisher and the watchers here
    # take none of its interpreter (perf_counter is the machine's monotonic clock in both).
    worker = WorkerProcess(bootstrap, database_url, run_id, "latency", args.batch, topic)
    await worker.start()
    conn, ledger = [await asyncpg.connect(database_url,
                                          server_settings={"search_path": worker.schema})
                    for _ in range(2)]
    await applied(conn, len(warm))
    batches = await worker.reset_statements()
    measured = mix.events[500:500 + count]

    sent_at: dict[str, float] = {}
    scored_at: dict[str, float] = {}
    fetched_at: dict[str, float] = {}
    stop = asyncio.Event()
    watchers = [asyncio.create_task(watch_ledger(ledger, scored_at, args.poll_ms / 1000, stop)),
                asyncio.create_task(watch_topic(bootstrap, topic, fetched_at, stop))]
    await asyncio.sleep(0.5)
    achieved = await publish_steadily(bootstrap, topic, measured, args.rate, sent_at)
    await applied(conn, len(warm) + len(measured))
    after, statements = await worker.statements()
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*watchers)
    await conn.close()
    await ledger.close()

    ceiling = [1000 * (fetched_at[i] - t) for i, t in sent_at.items() if i in fetched_at]
    scored = [1000 * (scored_at[i] - t) for i, t in sent_at.items() if i in scored_at]
    print(f"published {len(measured):,} events at {achieved:,.0f}/s (asked {args.rate:,.0f}/s) "
          f"on {args.partitions} partitions; worker batches of up to {args.batch}; ledger "
          f"polled every {args.poll_ms} ms")
    print(f"ceiling  publish → bare aiokafka consumer   {summary(ceiling)}")
    print(f"scoring  publish → score visible            {summary(scored)}  (target p99 < 100 ms)")
    print(statements.report(after - batches, len(measured)))
    await worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--batch", type=int, default=DEPLOYED_BATCH,
                        help="max records per batch (default: the deployed worker's)")
    parser.add_argument("--poll-ms", type=float, default=5)
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()

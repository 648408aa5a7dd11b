"""Events applied per second by one scoring worker for a realistic mix, beside the ceilings
of the same run: aiokafka consuming the same records, and PostgreSQL's batched upsert.

The stream (`tests/support/scoring_mix.py`): a campaign launched, then per unit a registration
of the unit and of some members, a pledge with two targets, submitted initiatives reviewed by
the grassroots council (a quarter rejected) and the best also by the district's, some plaqued
works, and the pledge results. All on one private topic (scoring dispatches on type), keyed by
unit as registration keys them. Then, in this run:

1. ceiling: aiokafka fetching every record of the topic (no decoding, no database);
2. ceiling: PostgreSQL upserting one row per event with one `unnest` statement per batch;
3. one scoring worker (real handlers and repository: facts, reprice in SQL, ledger, totals,
   coalesced score.changed in the outbox, barrier counts), timed from its first applied batch.

Target: the worker at ≥ 50 % of the lower ceiling.

    python -m benchmarks.scoring_throughput [--units 2000] [--partitions 12] [--batch 2000]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter

import asyncpg

from benchmarks.scoring_stream import (
    DEPLOYED_BATCH,
    ScoringWorker,
    consume_ceiling,
    private_topic,
    produce,
)
from services.devstack.infrastructure import provide_infrastructure
from services.runtime.db import open_schema
from services.runtime.logs import configure_logging
from tests.support.scoring_mix import scoring_mix

TABLE = """CREATE TABLE rows (row_id text PRIMARY KEY, unit_id text NOT NULL,
                              kind text NOT NULL, points numeric NOT NULL)"""
UPSERT = """INSERT INTO rows (row_id, unit_id, kind, points)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[])
            ON CONFLICT (row_id) DO UPDATE SET points = rows.points + EXCLUDED.points"""
# Rows the worker keeps for the stream (updates in place not counted).
ROWS_KEPT = """
    SELECT (SELECT count(*) FROM inbox) + (SELECT count(*) FROM facts)
         + (SELECT count(*) FROM fact_points) + (SELECT count(*) FROM score_entries)
         + (SELECT count(*) FROM scores) + (SELECT count(*) FROM outbox)
         + (SELECT count(*) FROM initiatives) + (SELECT count(*) FROM initiative_reviews)
         + (SELECT count(*) FROM phase_counts)"""


async def upsert_ceiling(pool: asyncpg.Pool, events, batch: int) -> float:
    """Rows/s for one unnest upsert per batch of `batch` rows, one transaction each."""
    rows = [(e.id, getattr(e.data, "unit_id", "u"), e.type, 2) for e in events]
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for i in range(0, len(rows), batch):
            chunk = rows[i:i + batch]
            async with conn.transaction():
                await conn.execute(UPSERT, *(list(c) for c in zip(*chunk, strict=True)))
    return len(rows) / (time.perf_counter() - started)


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    run_id = uuid.uuid4().hex[:8]
    topic = f"thidua.bench-scoring-{run_id}.v1"
    await private_topic(bootstrap, topic, args.partitions)
    mix = scoring_mix(f"cmp-bench-{run_id}", units=args.units, initiatives_per_unit=6,
                      members_per_unit=40, registering_members=2)
    events = [mix.launch, *mix.events]
    size = await produce(bootstrap, topic, events)
    kinds = Counter(e.type.removeprefix("thidua.").removesuffix(".v1") for e in events)
    print(f"produced {len(events):,} events of {size} B on {args.partitions} partitions; "
          f"batches of up to {args.batch}")
    print("  mix: " + ", ".join(f"{k} {n:,}" for k, n in kinds.most_common()))

    consumed = await consume_ceiling(bootstrap, topic, len(events), args.batch)
    print(f"ceiling  aiokafka consume                   {consumed:>9,.0f} events/s")
    pool = await open_schema(database_url, f"bench_upsert_{run_id}", max_size=2)
    await pool.execute(TABLE)
    upserts = await upsert_ceiling(pool, events, args.batch)
    await pool.close()
    print(f"ceiling  PostgreSQL unnest upsert per batch {upserts:>9,.0f} rows/s")

    worker = await ScoringWorker(bootstrap, database_url, run_id, "throughput",
                                 args.batch).open()
    await worker.start(topic)
    rate = await worker.applied(len(events))
    changes = await worker.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'thidua.score.changed.v1'")
    subjects = await worker.pool.fetchval("SELECT count(*) FROM scores")
    rows = await worker.pool.fetchval(ROWS_KEPT)
    lower = min(consumed, upserts)
    print(f"worker   scoring, one instance              {rate:>9,.0f} events/s  "
          f"= {rate / lower:.2f} of the lower ceiling (target ≥ 0.50); "
          f"{rate / consumed:.2f} of consume, {rate / upserts:.2f} of upsert; "
          f"{worker.consumer.stats.batches} batches")
    print(f"         {subjects:,} subjects scored, {changes:,} coalesced score.changed "
          f"for {len(events):,} events")
    # The upsert ceiling writes one row per event; the worker keeps several (inbox, fact,
    # points per subject, ledger lines, totals, outbox): its rows/s against the same ceiling
    # says how close the write path itself runs to what PostgreSQL gives.
    per_event = rows / len(events)
    print(f"         {rows:,} rows kept = {per_event:.1f} per event; "
          f"{rate * per_event:,.0f} rows/s = {rate * per_event / upserts:.2f} of the upsert "
          f"ceiling's rows/s")
    await worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--batch", type=int, default=DEPLOYED_BATCH,
                        help="max records per batch (default: the deployed worker's)")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()

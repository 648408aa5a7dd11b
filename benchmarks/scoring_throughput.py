"""Events applied per second by one scoring worker for a realistic mix, beside the ceilings
of the same run: aiokafka consuming the same records, and PostgreSQL's batched upsert.

The stream (`tests/support/scoring_mix.py`): a campaign launched, then per unit a registration
of the unit and of some members, a pledge with two targets, submitted initiatives reviewed by
the grassroots council (a quarter rejected) and the best also by the district's, some plaqued
works, and the pledge results. All on one private topic (scoring dispatches on type), keyed by
unit as registration keys them. Then, in this run:

1. ceiling: aiokafka fetching every record of the topic (no decoding, no database);
2. ceiling: PostgreSQL upserting one row per event with one `unnest` statement per batch, on
   as many connections as the worker applies a batch on (`SCORING_CONSUMER_APPLY_CONNECTIONS`;
   each batch cut by unit, one transaction per connection) and, for reference, on one;
   measured before and after the worker, which is compared with the mean (the machine's load
   moves while it runs);
3. one scoring worker (real handlers and repository: facts, reprice in SQL, ledger, totals,
   coalesced score.changed in the outbox, barrier counts), timed from its first applied batch;
4. ceiling, for reference: PostgreSQL upserting the very rows the worker kept, into tables of
   the same shape, one `unnest` per table per batch (`benchmarks/kept_rows_ceiling.py`): what
   the database alone takes to store what the worker stored (4.1 rows per event, where 2.
   writes one).

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

from benchmarks.kept_rows_ceiling import kept_rows_ceiling
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
from services.scoring.settings import ScoringSettings
from tests.support.scoring_mix import scoring_mix

TABLE = """CREATE TABLE rows (row_id text PRIMARY KEY, unit_id text NOT NULL,
                              kind text NOT NULL, points numeric NOT NULL)"""
UPSERT = """INSERT INTO rows (row_id, unit_id, kind, points)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[])
            ON CONFLICT (row_id) DO UPDATE SET points = rows.points + EXCLUDED.points"""
# Rows the worker keeps for the stream (updates in place not counted), per table, with the
# indexes each row enters (a member fact's GIN entries counted as one).
KEPT_TABLES = ("inbox", "facts", "ledger_changes", "scores", "outbox", "initiatives",
               "initiative_reviews", "phase_counts")
ROWS_KEPT = " UNION ALL ".join(
    f"""SELECT '{t}', count(*), (SELECT count(*) FROM pg_index
                                 WHERE indrelid = '{t}'::regclass) FROM {t}"""
    for t in KEPT_TABLES)


async def upsert_ceiling(pool: asyncpg.Pool, events, batch: int, connections: int) -> float:
    """Rows/s for one unnest upsert per batch of `batch` rows, one transaction each; with
    several connections, each batch's rows are cut by unit (as the worker cuts a batch by
    partition) and upserted side by side, one transaction per connection."""
    rows = [(e.id, getattr(e.data, "unit_id", "u"), e.type, 2) for e in events]

    async def upsert(chunk) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(UPSERT, *(list(c) for c in zip(*chunk, strict=True)))

    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        parts: list[list] = [[] for _ in range(connections)]
        for row in rows[i:i + batch]:
            parts[hash(row[1]) % connections].append(row)
        await asyncio.gather(*(upsert(part) for part in parts if part))
    return len(rows) / (time.perf_counter() - started)


async def upsert_ceilings(database_url: str, events, batch: int, connections: int,
                          label: str) -> float:
    """The upsert ceiling on a fresh table, on the worker's number of connections (and on one,
    for reference, when that differs); returns the worker's."""
    schema = f"bench_upsert_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, max_size=max(2, connections))
    await pool.execute(TABLE)
    counts = sorted({1, connections})
    rates = {}
    for n in counts:
        await pool.execute("TRUNCATE rows")
        rates[n] = await upsert_ceiling(pool, events, batch, n)
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()
    shown = ", ".join(f"{rates[n]:,.0f} rows/s on {n} connection{'s' if n > 1 else ''}"
                      for n in counts)
    print(f"ceiling  PostgreSQL unnest upsert, {label}: {shown}")
    return rates[connections]


async def kept_rows_ceilings(worker: ScoringWorker, events: int, connections: int) -> float:
    """Events/s for the upsert of the rows the worker kept, in its number of batches and on its
    connections; measured twice (the machine's load moves), the mean returned."""
    batches = worker.consumer.stats.batches
    runs = [await kept_rows_ceiling(worker.pool, worker.definition.schema, KEPT_TABLES,
                                    batches, connections) for _ in range(2)]
    rates = [events / seconds for seconds, _ in runs]
    rows = runs[0][1]
    print(f"ceiling  PostgreSQL unnest upsert of the rows the worker kept ({rows:,} rows, "
          f"{batches} batches on {connections} connections): "
          + ", ".join(f"{r:,.0f} events/s = {r * rows / events:,.0f} rows/s" for r in rates))
    return sum(rates) / len(rates)


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
    # The machine's load moves while the worker runs: the upsert ceiling is measured before
    # and after it, and the worker compared with their mean.
    connections = ScoringSettings().consumer_apply_connections
    before = await upsert_ceilings(database_url, events, args.batch, connections, "before")

    worker = await ScoringWorker(bootstrap, database_url, run_id, "throughput",
                                 args.batch).open()
    wal = await worker.pool.fetchval("SELECT pg_current_wal_insert_lsn()")
    worker.statements.reset()
    await worker.start(topic)
    rate = await worker.applied(len(events))
    worker.statements.enabled = False
    wal = await worker.pool.fetchval(
        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)", wal)
    changes = await worker.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'thidua.score.changed.v1'")
    subjects = await worker.pool.fetchval("SELECT count(*) FROM scores")
    kept = await worker.pool.fetch(ROWS_KEPT)
    rows, entries = sum(r[1] for r in kept), sum(r[1] * r[2] for r in kept)
    after = await upsert_ceilings(database_url, events, args.batch, connections, "after ")
    kept_rate = await kept_rows_ceilings(worker, len(events), connections)
    upserts = (before + after) / 2
    lower = min(consumed, upserts)
    print(f"worker   scoring, one instance              {rate:>9,.0f} events/s  "
          f"= {rate / lower:.2f} of the lower ceiling (target ≥ 0.50); "
          f"{rate / consumed:.2f} of consume, {rate / upserts:.2f} of upsert; "
          f"{worker.consumer.stats.batches} batches on {connections} connections; upsert "
          f"ceiling {upserts:,.0f} rows/s (mean of before and after)")
    print(f"         = {rate / kept_rate:.2f} of the upsert of the rows it kept "
          f"({kept_rate:,.0f} events/s)")
    print(f"         {subjects:,} subjects scored, {changes:,} coalesced score.changed "
          f"for {len(events):,} events")
    # The upsert ceiling writes one row per event; the worker keeps several (inbox, fact,
    # points per subject, ledger lines, totals, outbox): its rows/s against the same ceiling
    # says how close the write path itself runs to what PostgreSQL gives.
    per_event = rows / len(events)
    print(f"         {rows:,} rows kept = {per_event:.1f} per event; "
          f"{rate * per_event:,.0f} rows/s = {rate * per_event / upserts:.2f} of the upsert "
          f"ceiling's rows/s")
    print(f"         {entries:,} index entries = {entries / len(events):.1f} per event; rows "
          "per event: " + ", ".join(f"{t} {n / len(events):.2f}" for t, n, _ in kept))
    print(f"         {int(wal):,} B of WAL = {int(wal) / len(events):,.0f} B per event "
          f"(the whole server's, other work included)")
    print(worker.statements.report(worker.consumer.stats.batches, len(events)))
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

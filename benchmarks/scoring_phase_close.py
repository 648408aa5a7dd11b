"""Phase close at city scale: 10,000 units, 1,000,000 members.

Builds scoring's directory for the phase's last day in the worker's schema (10,000 grassroots
units of 100 members each in 30 districts and 5 sector blocks, and their 1,000,000 members,
written set-based), publishes a realistic phase (`tests/support/scoring_mix.py`: a launch,
registrations, pledges, two initiatives per unit with their reviews, works, results) to a
private topic, lets one scoring worker apply all of it, then publishes `phase.closed` and times:

1. `phase.closed` published → `standings_finalized` committed to the outbox (target < 5 s
   after the last event is applied);
2. reading the finalized standings: the city's 10,000 units on each basis, a district's
   members, and a what-if over the whole phase.

    python -m benchmarks.scoring_phase_close [--units 10000] [--members-per-unit 100]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaProducer

from benchmarks.scoring_stream import DEPLOYED_BATCH, ScoringWorker, private_topic, produce
from contracts import encode_event
from contracts.events.rules import ScoringRules
from services.devstack.infrastructure import provide_infrastructure
from services.runtime.logs import configure_logging
from services.scoring import queries
from tests.support.scoring_mix import scoring_mix

UNITS = """
    INSERT INTO directory_units (unit_id, effective_from, valid, parent_id, name, kind,
                                 district_id, sector, member_count, direct_worker_count, status,
                                 recorded_at)
    SELECT format('%s-%s', $1::text, lpad(n::text, 5, '0')), date '2020-01-01',
           daterange(date '2020-01-01', NULL), format('d-mix-%s', lpad((n % 12)::text, 2, '0')),
           format('Công đoàn cơ sở số %s', n), 'grassroots_union',
           format('d-mix-%s', lpad((n % 12)::text, 2, '0')),
           (ARRAY['enterprise', 'administration', 'education', 'health', 'other'])[n % 5 + 1],
           $2::integer, $2::integer / 2, 'active', now()
    FROM generate_series(0, $3::integer - 1) AS n"""
MEMBERS = """
    INSERT INTO directory_members (member_id, effective_from, valid, unit_id, full_name, gender,
                                   direct_worker, union_officer, job_title, status, recorded_at)
    SELECT format('m-%s-%s-%s', $1::text, lpad(u::text, 5, '0'), lpad(m::text, 3, '0')),
           date '2020-01-01', daterange(date '2020-01-01', NULL),
           format('%s-%s', $1::text, lpad(u::text, 5, '0')), format('Đoàn viên %s', m),
           CASE WHEN m % 2 = 0 THEN 'female' ELSE 'male' END, m % 3 = 0, false, NULL, 'active',
           now()
    FROM generate_series(0, $3::integer - 1) AS u, generate_series(0, $2::integer - 1) AS m"""

DROP_MEMBER_INDEXES = """
    ALTER TABLE directory_members DROP CONSTRAINT directory_members_one_state_a_day;
    DROP INDEX directory_members_of_unit"""
BUILD_MEMBER_INDEXES = """
    SET LOCAL maintenance_work_mem = '256MB';
    ALTER TABLE directory_members ADD CONSTRAINT directory_members_one_state_a_day
        EXCLUDE USING gist (member_id WITH =, valid WITH &&) DEFERRABLE INITIALLY DEFERRED;
    CREATE INDEX directory_members_of_unit ON directory_members USING gist (unit_id, valid);
    ANALYZE directory_units;
    ANALYZE directory_members"""


async def timed(label: str, fn):
    started = time.perf_counter()
    result = await fn()
    print(f"  {label:<52} {1000 * (time.perf_counter() - started):>8,.0f} ms")
    return result


async def run(args: argparse.Namespace, bootstrap: str, database_url: str) -> None:
    run_id = uuid.uuid4().hex[:8]
    topic = f"thidua.bench-close-{run_id}.v1"
    await private_topic(bootstrap, topic, args.partitions)
    prefix = f"u-{run_id}"
    mix = scoring_mix(f"cmp-close-{run_id}", units=args.units, initiatives_per_unit=2,
                      members_per_unit=args.members_per_unit, registering_members=1,
                      unit_prefix=prefix)
    worker = await ScoringWorker(bootstrap, database_url, run_id, "close", args.batch).open()
    started = time.perf_counter()
    async with worker.pool.acquire() as conn, conn.transaction():
        await conn.execute(UNITS, prefix, args.members_per_unit, args.units)
        # As a bulk import would: the members' two GiST structures are built once over the
        # loaded rows, not grown a row at a time (which alone took over 17 minutes).
        await conn.execute(DROP_MEMBER_INDEXES)
        await conn.execute(MEMBERS, prefix, args.members_per_unit, args.units)
        await conn.execute(BUILD_MEMBER_INDEXES)
    members = await worker.pool.fetchval("SELECT count(*) FROM directory_members")
    print(f"directory: {args.units:,} units, {members:,} members written in "
          f"{time.perf_counter() - started:.1f} s")

    events = [mix.launch, *mix.events]
    await produce(bootstrap, topic, events)
    await worker.start(topic)
    started = time.perf_counter()
    await worker.applied(len(events))
    elapsed = time.perf_counter() - started
    print(f"applied {len(events):,} events of the phase in {elapsed:.1f} s, joining the group "
          f"included ({len(events) / elapsed:,.0f} events/s)")

    # The producer is connected before the clock starts: its bootstrap is not the close's.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    await producer.partitions_for(topic)
    closed_at = time.perf_counter()
    await producer.send_and_wait(topic, encode_event(mix.close),
                                 key=mix.close.partition_key().encode())
    # finalized_at commits with the outbox row of standings_finalized; polling the phase's
    # row, not the outbox, keeps the watch from scanning what the worker is writing.
    while not await worker.pool.fetchval(
            "SELECT finalized_at IS NOT NULL FROM phases WHERE (campaign_id, phase_id) = ($1, $2)",
            mix.campaign_id, mix.phase_id):
        await asyncio.sleep(0.005)
    finalized = time.perf_counter() - closed_at
    await producer.stop()
    count = await worker.pool.fetchval(
        """SELECT (convert_from(value, 'UTF8')::jsonb->'data'->>'score_changed_count')::int
           FROM outbox WHERE event_type = 'thidua.phase.standings_finalized.v1'""")
    print(f"phase.closed published → standings_finalized in the outbox: {1000 * finalized:,.0f} "
          f"ms (target < 5,000 ms); score_changed_count {count:,}")

    print("reading the final standings:")
    pool, c, p = worker.pool, mix.campaign_id, mix.phase_id
    for basis in ("total", "per_100_members", "shrunk_per_100_members", "beat_pledge"):
        rules = ScoringRules(unit_score_basis=basis)
        await timed(f"city, {args.units:,} units, {basis}, first page", lambda r=rules:
                    queries.standings_page(pool, c, p, r, "unit", "city", None, 0, 100))
    await timed("a district's members, first page", lambda: queries.standings_page(
        pool, c, p, ScoringRules(), "member", "district", "d-mix-03", 0, 100))
    await timed(f"what-if over {args.units:,} units (grassroots A doubled)", lambda: queries.what_if(
        pool, c, p, ScoringRules(), ScoringRules(initiative_points={
            "grassroots": {"A": 20, "B": 7, "C": 5}}), "unit", "city", None))
    # A subject's ledger and breakdown, a page of 100 at a time to the end: the unit and the
    # member with the most facts.
    unit, member = await pool.fetchrow(
        """SELECT (SELECT unit_id FROM facts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1),
                  (SELECT m FROM facts, unnest(member_ids) AS m
                   GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)""")
    for kind, subject in (("unit", unit), ("member", member)):
        async def ledger(k=kind, s=subject) -> int:
            after, lines = 0, 0
            while page := await queries.entries_of(pool, k, s, after, 100):
                after, lines = page[-1]["entry_id"], lines + len(page)
            return lines

        async def breakdown(k=kind, s=subject) -> None:
            after = ""
            while page := await queries.breakdown_of(pool, k, s, None, None, after, 100):
                after = page[-1]["fact_id"]

        lines = await timed(f"a {kind}'s ledger, every page of 100", ledger)
        print(f"    {lines:,} lines")
        await timed(f"a {kind}'s breakdown, every page of 100", breakdown)
    await worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--members-per-unit", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--batch", type=int, default=DEPLOYED_BATCH,
                        help="max records per batch (default: the deployed worker's)")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url))


if __name__ == "__main__":
    main()

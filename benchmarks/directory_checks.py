"""Scope checks per second against the directory, beside PostgreSQL's round-trip ceiling.

Builds a realistic tree through the directory's handlers (the real consumer, no Kafka): one city
federation, 30 upper-level unions (20 district federations, 10 sector unions) and N grassroots
unions under them from 2020; on 1 Jul 2025 the 30 are dissolved and every grassroots union moves
under the city; on 1 Oct 2025 84 ward unions appear and the district federations' grassroots
unions move under them. Then, in the same run and on the same pool, at the same concurrency:

1. the ceiling: `SELECT 1` round trips per second;
2. `Directory.inside(unit, ancestor, date)` uncached (`cache_seconds=0`: one recursive query
   each), over random grassroots units, their ancestors (or not) and dates either side of the
   reform;
3. the same checks cached (the working set warmed first);
4. `Directory.units_inside` of a list of L ids (one query), against L uncached `inside` calls.

    python -m benchmarks.directory_checks [--grassroots 10000] [--checks 20000]
                                          [--concurrency 16] [--list 500]

Uses DATABASE_URL (and KAFKA_BOOTSTRAP_SERVERS) when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import asyncpg

from services.devstack.infrastructure import provide_infrastructure
from services.runtime.db import open_schema
from services.runtime.directory import Directory, directory_handlers
from services.runtime.logs import configure_logging
from tests.support.events import unit_state
from tests.support.handler_harness import HandlerHarness, ServiceUnderTest, fixed_clock

FOUNDED, REFORM, WARDS = date(2020, 1, 1), date(2025, 7, 1), date(2025, 10, 1)
DATES = (date(2025, 6, 30), REFORM, date(2025, 11, 15))
CITY = "c-hanoi"
DISTRICTS = [f"d-{n:02d}" for n in range(20)]
SECTORS = [f"s-{n:02d}" for n in range(10)]
WARD_UNIONS = [f"w-{n:02d}" for n in range(84)]
BATCH = 2000  # CONSUMER_MAX_RECORDS


class Tree:
    """Who is under whom on each of DATES, to choose checks from (and a few to verify)."""

    def __init__(self, grassroots: int) -> None:
        upper = DISTRICTS + SECTORS
        self.units = [f"g-{n:05d}" for n in range(grassroots)]
        self.federation = {u: upper[n % len(upper)] for n, u in enumerate(self.units)}
        self.ward = {u: WARD_UNIONS[n % len(WARD_UNIONS)]
                     for n, u in enumerate(self.units) if self.federation[u] in DISTRICTS}

    def events(self) -> list:
        t0 = datetime(2025, 1, 1, tzinfo=UTC)
        clock = iter(t0 + timedelta(milliseconds=n) for n in range(10**7))
        events = [unit_state(CITY, None, FOUNDED, kind="city_federation", time=next(clock))]
        events += [unit_state(f, CITY, FOUNDED, time=next(clock), district_id=f,
                              kind="district_federation" if f in DISTRICTS else "sector_union")
                   for f in DISTRICTS + SECTORS]
        events += [unit_state(u, self.federation[u], FOUNDED, time=next(clock),
                              district_id=self.federation[u]) for u in self.units]
        events += [unit_state(f, CITY, REFORM, updated=True, status="dissolved",
                              time=next(clock), district_id=f,
                              kind="district_federation" if f in DISTRICTS else "sector_union")
                   for f in DISTRICTS + SECTORS]
        events += [unit_state(u, CITY, REFORM, updated=True, previous_parent_id=self.federation[u],
                              time=next(clock), district_id=self.federation[u])
                   for u in self.units]
        events += [unit_state(w, CITY, WARDS, kind="upper_level_union", time=next(clock),
                              district_id=w) for w in WARD_UNIONS]
        events += [unit_state(u, w, WARDS, updated=True, previous_parent_id=CITY,
                              time=next(clock), district_id=w) for u, w in self.ward.items()]
        return events

    def check(self, rng: random.Random) -> tuple[str, str, date]:
        """A random (unit, ancestor, date): half of them inside, half not."""
        unit, day = rng.choice(self.units), rng.choice(DATES)
        if rng.random() < 0.5:
            return unit, self.federation[unit], day
        return unit, rng.choice([CITY, *DISTRICTS, *SECTORS, *WARD_UNIONS]), day


async def build(pool: asyncpg.Pool, tree: Tree) -> tuple[int, float]:
    harness = HandlerHarness(pool, ServiceUnderTest("bench", directory_handlers), fixed_clock)
    events = tree.events()
    started = time.perf_counter()
    for n in range(0, len(events), BATCH):
        await harness.apply(*events[n:n + BATCH])
    return len(events), time.perf_counter() - started


async def rate(concurrency: int, count: int, one: Callable[[int], Awaitable[object]]) -> float:
    """Calls per second of `one(n)` for n in range(count), `concurrency` at a time."""
    remaining = iter(range(count))

    async def worker() -> None:
        for n in remaining:
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def run(args: argparse.Namespace, database_url: str) -> None:
    schema = f"dirbench_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, min_size=args.concurrency,
                             max_size=args.concurrency)
    try:
        tree = Tree(args.grassroots)
        events, seconds = await build(pool, tree)
        await pool.execute("ANALYZE directory_units")
        print(f"tree: 1 city, {len(DISTRICTS) + len(SECTORS)} federations, {len(WARD_UNIONS)} "
              f"wards, {args.grassroots:,} grassroots unions; {events:,} org events projected in "
              f"{seconds:.1f} s ({events / seconds:,.0f} events/s through the consumer)")
        await verify(pool, tree)

        rng = random.Random(7)
        checks = [tree.check(rng) for _ in range(args.checks)]
        uncached = Directory(pool, cache_seconds=0)
        cached = Directory(pool, cache_seconds=3600, cache_size=10**6)
        for unit in tree.units:  # the cached phase measures a warm cache
            for day in DATES:
                await cached.ancestors(unit, day)

        async def select_1(n):
            return await pool.fetchval("SELECT 1")

        async def inside_uncached(n):
            return await uncached.inside(*checks[n])

        async def inside_cached(n):
            return await cached.inside(*checks[n])

        await rate(args.concurrency, 2000, select_1)  # warm-up: connections, statements
        await rate(args.concurrency, 2000, inside_uncached)
        ceiling = await rate(args.concurrency, args.checks, select_1)
        cold = await rate(args.concurrency, args.checks, inside_uncached)
        warm = await rate(args.concurrency, args.checks, inside_cached)
        print(f"ceiling  SELECT 1 round trips         {ceiling:>10,.0f} /s  "
              f"(concurrency {args.concurrency}, pool of {args.concurrency})")
        print(f"inside() uncached (one query each) {cold:>10,.0f} checks/s  "
              f"{cold / ceiling:.2f} of the ceiling")
        print(f"inside() cached (warm)             {warm:>10,.0f} checks/s  "
              f"{warm / ceiling:.1f}x the ceiling")

        lists = [rng.sample(tree.units, args.list) for _ in range(8)]
        calls = max(40, args.checks // args.list)

        async def units_inside(n):
            unit_ids = lists[n % len(lists)]
            return await uncached.units_inside(unit_ids, DISTRICTS[n % len(DISTRICTS)],
                                               DATES[n % len(DATES)])

        await rate(args.concurrency, 8, units_inside)
        listed = await rate(args.concurrency, calls, units_inside)
        single = await rate(1, calls, units_inside)
        print(f"units_inside({args.list} ids)            {listed:>10,.1f} calls/s  "
              f"= {listed * args.list:,.0f} ids/s, {listed * args.list / cold:.1f}x uncached "
              f"inside() (concurrency {args.concurrency}); alone: "
              f"{1000 / single:.1f} ms a call")
    finally:
        await pool.close()
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await admin.close()


async def verify(pool: asyncpg.Pool, tree: Tree) -> None:
    """The answers the figures are about are the right ones (a wrong tree would be fast too)."""
    directory = Directory(pool, cache_seconds=0)
    unit = next(iter(tree.ward))
    federation, ward = tree.federation[unit], tree.ward[unit]
    expected = {DATES[0]: (unit, federation, CITY), DATES[1]: (unit, CITY),
                DATES[2]: (unit, ward, CITY)}
    for day, chain in expected.items():
        found = await directory.ancestors(unit, day)
        if found != chain:
            raise AssertionError(f"ancestors({unit}, {day}) = {found}, expected {chain}")
    inside = await directory.units_inside(tree.units, federation, DATES[0])
    if inside != {u for u in tree.units if tree.federation[u] == federation}:
        raise AssertionError(f"units_inside({federation}) is not its grassroots unions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grassroots", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=20_000, help="checks per measured phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--list", type=int, default=500, help="ids per units_inside call")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        # Bounded: a database that dies under the run must not hang it.
        asyncio.run(asyncio.wait_for(run(args, infra.database_url), 900))


if __name__ == "__main__":
    main()

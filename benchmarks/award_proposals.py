"""A phase's proposal round at city scale, beside PostgreSQL's ceiling for the same rows.

Builds, with set-based SQL in a fresh awards schema: one city federation, 30 district
federations, N grassroots unions under them (on 2025-06-02, the harness's date), M members spread
over the units (30 % direct workers, half women), every member's and unit's standing in one
campaign phase (points 0 to 60), clusters of 10 units of a district, an accepted initiative for 1 % of the
members, and the phase's barrier count. Then, in the same run:

1. the round: `thidua.phase.standings_finalized.v1` (scope `phase`) through the real consumer
   (no Kafka) under the default rule set, timed from the event's handling to the commit of its
   transaction — every placement stored and every `thidua.award.proposed.v1` in the outbox;
2. the ceiling: PostgreSQL alone writing the same rows, in one transaction, into tables like
   the real ones (logged, with the same indexes): the proposal rows (one INSERT ... SELECT
   ranking them with a window function, level by level in id order as the round writes them)
   and the outbox rows (the same JSON, copied), under the round's `work_mem`.

Each of the two starts after a CHECKPOINT, so neither inherits the other's dirty pages, on
vacuumed inputs (their hint bits set, as on rows written long before), and the machine's load
average is printed beside the figures (the machine is shared). The WAL each wrote and the
bytes the round stored (heap and each index) are printed too, and, for a server on this
machine, the CPU seconds PostgreSQL's processes spent on each: they depend far less on the
load than the seconds on the clock.

    python -m benchmarks.award_proposals [--members 1000000] [--units 10000]

Uses DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from contracts import new_event
from contracts.events.scores import PhaseStandingsFinalized
from services.awards.handlers import handlers
from services.awards.repository import AwardsRepository
from services.awards.round_tables import WORK_MEM
from services.devstack.infrastructure import provide_infrastructure
from services.runtime.logs import configure_logging
from tests.support.handler_harness import ServiceUnderTest, open_harness

CAMPAIGN, PHASE = "c-bench", "c-bench-p1"
MIGRATIONS = Path(__file__).parents[1] / "services" / "awards" / "migrations"
FOUNDED = "2020-01-01"

_TREE = f"""
INSERT INTO directory_units (unit_id, effective_from, valid, parent_id, name, kind, district_id,
                             sector, member_count, direct_worker_count, status, recorded_at)
SELECT 'c-hanoi', DATE '{FOUNDED}', daterange(DATE '{FOUNDED}', NULL), NULL, 'LĐLĐ Thành phố',
       'city_federation', NULL, 'other', $2, 0, 'active', now()
UNION ALL
SELECT 'd-' || d, DATE '{FOUNDED}', daterange(DATE '{FOUNDED}', NULL), 'c-hanoi', 'LĐLĐ quận ' || d,
       'district_federation', 'd-' || d, 'other', 0, 0, 'active', now()
FROM generate_series(0, 29) AS d
UNION ALL
SELECT 'g-' || g, DATE '{FOUNDED}', daterange(DATE '{FOUNDED}', NULL), 'd-' || (g % 30), 'Công đoàn ' || g,
       'grassroots_union', 'd-' || (g % 30), 'enterprise',
       $2 / $1 + CASE WHEN g < $2 % $1 THEN 1 ELSE 0 END, 0, 'active', now()
FROM generate_series(0, $1 - 1) AS g"""

_MEMBERS = f"""
INSERT INTO directory_members (member_id, effective_from, valid, unit_id, full_name, gender,
                               direct_worker, union_officer, job_title, status, recorded_at)
SELECT 'm-' || m, DATE '{FOUNDED}', daterange(DATE '{FOUNDED}', NULL), 'g-' || (m % $1),
       'Đoàn viên ' || m, CASE WHEN m % 2 = 0 THEN 'female' ELSE 'male' END, m % 10 < 3,
       m % 50 = 0, NULL, 'active', now()
FROM generate_series(0, $2 - 1) AS m"""

_STANDINGS = """
INSERT INTO subject_standings (campaign_id, phase_id, subject_kind, subject_id, unit_id,
                               total_points, accepted_initiatives, subject_version)
SELECT $3, $4, 'member', 'm-' || m, 'g-' || (m % $1), (hashint4(m) & 2147483647) % 61,
       CASE WHEN m % 100 = 7 THEN 1 ELSE 0 END, 1
FROM generate_series(0, $2 - 1) AS m
UNION ALL
SELECT $3, $4, 'unit', 'g-' || g, 'g-' || g, (hashint4(g + 7) & 2147483647) % 500, 0, 1
FROM generate_series(0, $1 - 1) AS g"""

_FACTS = """
INSERT INTO initiatives (initiative_id, campaign_id, phase_id, unit_id, author_ids,
                         accepted_level, level_rank, recognised_benefit_vnd)
SELECT 'ini-' || m, $3, $4, 'g-' || (m % $1), ARRAY['m-' || m], 'grassroots', 0, 90000000
FROM generate_series(7, $2 - 1, 100) AS m;
INSERT INTO directory_clusters (cluster_id, name, organizer_unit_id, member_unit_ids, year,
                                effective_from, recorded_at)
SELECT 'cl-' || district || '-' || n / 10, 'Cụm ' || district || '-' || n / 10, min(unit_id),
       array_agg(unit_id ORDER BY unit_id), 2025, '2025-01-01', now()
FROM (SELECT unit_id, district_id AS district,
             row_number() OVER (PARTITION BY district_id ORDER BY unit_id) - 1 AS n
      FROM directory_units WHERE kind = 'grassroots_union') AS u
GROUP BY district, n / 10;
INSERT INTO phase_progress (campaign_id, phase_id, applied_score_changes)
VALUES ($3, $4, $1 + $2)"""

# PostgreSQL alone: the same proposal rows, ranked by a window function, and the same outbox
# rows, written in one transaction into tables like the real ones (logged, same indexes); the
# proposals level by level in id order, as the round writes them.
_CEILING = f"""
SET LOCAL work_mem = '{WORK_MEM}';
CREATE TABLE ceiling_proposals (LIKE proposals INCLUDING ALL);
CREATE TABLE ceiling_outbox (LIKE outbox INCLUDING ALL);
INSERT INTO ceiling_proposals
SELECT 'p-' || p.proposal_id, p.campaign_id, p.phase_id, p.year, p.title, p.level, p.subject_kind,
       p.subject_id, p.subject_name, p.unit_id, p.issuer_unit_id, p.cluster_id, p.points,
       row_number() OVER (PARTITION BY p.issuer_unit_id ORDER BY p.points DESC, p.subject_id),
       p.quota, p.candidate_count, p.tie_break, p.standing, p.direct_worker, p.initiative_ids,
       p.status, p.proposed_at, p.disclosure_ends_at, NULL, NULL, NULL, NULL
FROM proposals p
ORDER BY p.title, p.level, p.proposal_id;
INSERT INTO ceiling_outbox (seq, event_id, event_type, topic, partition_key, value,
                            correlation_id)
SELECT -seq, 'x' || event_id, event_type, topic, partition_key, value, correlation_id
FROM outbox;
"""
_CEILING_DROP = "DROP TABLE ceiling_proposals, ceiling_outbox"


async def build(pool: asyncpg.Pool, units: int, members: int) -> float:
    started = time.perf_counter()
    def sql(statement: str) -> str:  # whole numbers and fixed ids only: safe to inline
        return (statement.replace("$1", str(units)).replace("$2", str(members))
                .replace("$3", f"'{CAMPAIGN}'").replace("$4", f"'{PHASE}'"))

    async with pool.acquire() as conn, conn.transaction():
        for statement in (_TREE, _MEMBERS, _STANDINGS, _FACTS):
            await conn.execute(sql(statement))
    # VACUUM sets the rows' hint bits, as on tables written long before a round: else the
    # round's first read of each page would pay for it (with checksums, a page image in WAL).
    for table in ("directory_units", "directory_members", "directory_clusters",
                  "subject_standings", "initiatives", "phase_progress"):
        await pool.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - started


async def wal_lsn(pool: asyncpg.Pool) -> str:
    return await pool.fetchval("SELECT pg_current_wal_insert_lsn()::text")


async def wal_bytes(pool: asyncpg.Pool, since: str) -> int:
    """WAL written since `since`: what a part costs PostgreSQL whatever the machine's load."""
    return int(await pool.fetchval(
        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::text::pg_lsn)", since))


async def server_cpu(pool: asyncpg.Pool) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL process (backends and background writers),
    when the server runs on this machine: the time its work took whatever else ran beside it.
    Empty for a server elsewhere."""
    pids = [r[0] for r in await pool.fetch("SELECT pid FROM pg_stat_activity")]
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


async def sizes(pool: asyncpg.Pool, tables: tuple[str, ...]) -> str:
    """Each table's heap and each of its indexes, in MB: the bytes the rows and entries take."""
    rows = await pool.fetch(
        """SELECT c.relname, pg_relation_size(c.oid) AS bytes FROM pg_class c
           WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1)
           UNION ALL
           SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
           WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1)
           ORDER BY 1""", list(tables))
    return ", ".join(f"{r[0]} {r[1] / 2**20:.1f}" for r in rows)


async def checkpoint(pool: asyncpg.Pool) -> None:
    """Write out the dirty pages before a timed part, so it pays for its own writes only."""
    try:
        await pool.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        pass  # a DATABASE_URL without the right: the timed parts share the checkpoints


async def run(args: argparse.Namespace, database_url: str) -> None:
    service = ServiceUnderTest("awards", handlers, AwardsRepository, MIGRATIONS)
    async with open_harness(database_url, service) as harness:
        pool = harness.pool
        seconds = await build(pool, args.units, args.members)
        print(f"built {args.units:,} units, {args.members:,} members and their standings in "
              f"{seconds:.1f} s")
        final = new_event(PhaseStandingsFinalized(
            unit_id="c-hanoi", campaign_id=CAMPAIGN, phase_id=PHASE, scope_kind="phase",
            scope_id=PHASE, entries=[], finalized_at=datetime.now(UTC),
            score_changed_count=args.units + args.members),
            source="/thidua/scoring", district=None)
        await checkpoint(pool)
        lsn, cpu = await wal_lsn(pool), await server_cpu(pool)
        started = time.perf_counter()
        await harness.apply(final)
        round_seconds = time.perf_counter() - started
        round_wal, round_cpu = await wal_bytes(pool, lsn), cpu_since(cpu, await server_cpu(pool))
        placements = await pool.fetchval("SELECT count(*) FROM proposals")
        proposed = await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'thidua.award.proposed.v1'")
        by_level = await pool.fetch(
            """SELECT title, level, count(*) FROM proposals WHERE status = 'proposed'
               GROUP BY 1, 2 ORDER BY 1, 2""")
        stored = await sizes(pool, ("proposals", "outbox"))
        for table in ("proposals", "outbox"):  # the ceiling reads them: hint bits set first
            await pool.execute(f"VACUUM {table}")
        await checkpoint(pool)
        async with pool.acquire() as conn:
            lsn, cpu = await wal_lsn(pool), await server_cpu(pool)
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute(_CEILING)
            ceiling_seconds = time.perf_counter() - started
            ceiling_wal = await wal_bytes(pool, lsn)
            ceiling_cpu = cpu_since(cpu, await server_cpu(pool))
            await conn.execute(_CEILING_DROP)
        print(f"round: {placements:,} placements, {proposed:,} award.proposed committed in "
              f"{round_seconds:.2f} s ({proposed / round_seconds:,.0f} events/s)")
        print(f"ceiling: PostgreSQL writing the same {placements:,} proposal and {proposed:,} "
              f"outbox rows alone: {ceiling_seconds:.2f} s")
        print(f"ratio round / ceiling: {round_seconds / ceiling_seconds:.2f}")
        rows = placements + proposed
        print(f"WAL: round {round_wal / 2**20:,.1f} MB ({round_wal / rows:,.0f} B a row), "
              f"ceiling {ceiling_wal / 2**20:,.1f} MB ({ceiling_wal / rows:,.0f} B a row)")
        if round_cpu and ceiling_cpu:
            print(f"PostgreSQL's CPU: round {round_cpu:.2f} s, ceiling {ceiling_cpu:.2f} s "
                  f"(ratio {round_cpu / ceiling_cpu:.2f})")
        print(f"stored (MB): {stored}")
        print("load average (1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
        print("proposed per title and level: " + ", ".join(
            f"{r[0]}/{r[1]} {r[2]:,}" for r in by_level))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    configure_logging("bench", "console", args.log_level)
    with provide_infrastructure() as infra:
        asyncio.run(asyncio.wait_for(run(args, infra.database_url), 3600))


if __name__ == "__main__":
    main()

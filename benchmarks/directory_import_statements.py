"""A members import profiled statement by statement: for each statement the importing
connection runs, its wall time, the WAL it wrote (`pg_current_wal_insert_lsn()` before and
after) and the CPU seconds of the database backend and of the importing Python process.

Time moves with the machine's load; WAL bytes and the split of CPU between the two processes
do not, which makes them the figures to compare between two versions of the import.

    python -m benchmarks.directory_import_statements [--members 100000] [--units 10000]

Runs the job (`import_jobs.run`) in this process against the embedded PostgreSQL (or
DATABASE_URL), without the HTTP API, the relay or the broker: the units file first, then the
members file, which is the one profiled. Prints one line per statement, then the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

from benchmarks.directory_import import generate
from contracts.events.base import Actor
from services.registration import import_jobs
from services.runtime.db import open_schema
from services.runtime.logs import configure_logging

_TICKS = os.sysconf("SC_CLK_TCK")
# Who imports, as the API records a city administrator (`scope.actor.model_dump_json()`).
_ACTOR = Actor(subject="hanoi:admin-ldld", role="city_admin",
               name="Nguyễn Thị Thu Hà").model_dump_json()


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a local process (the backend runs on this machine)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class Statement:
    label: str
    seconds: float
    wal_bytes: int
    backend_cpu: float
    python_cpu: float


@dataclass
class Profile:
    """Statements of the profiled connection, in order."""

    backend_pid: int = 0
    explain: bool = False
    pause_s: float = 0
    listening: asyncpg.Connection | None = None
    watch: asyncpg.Connection | None = None
    statements: list[Statement] = field(default_factory=list)

    async def measured(self, label: str, call):
        lsn = await self.watch.fetchval("SELECT pg_current_wal_insert_lsn()")
        cpu_db, cpu_py = _cpu_of(self.backend_pid), time.process_time()
        started = time.perf_counter()
        result = await call()
        seconds = time.perf_counter() - started
        cpu_db, cpu_py = _cpu_of(self.backend_pid) - cpu_db, time.process_time() - cpu_py
        wal = await self.watch.fetchval(
            "SELECT pg_current_wal_insert_lsn() - $1::pg_lsn", lsn)
        self.statements.append(Statement(label, seconds, int(wal), cpu_db, cpu_py))
        return result


# Plans of the slower statements, with their buffers and WAL, sent to this client as notices.
_AUTO_EXPLAIN = """LOAD 'auto_explain'; SET LOCAL auto_explain.log_min_duration = 50;
    SET LOCAL auto_explain.log_analyze = on; SET LOCAL auto_explain.log_buffers = on;
    SET LOCAL auto_explain.log_wal = on; SET LOCAL auto_explain.log_nested_statements = on;
    SET LOCAL auto_explain.log_level = notice"""


# What a member's rows hold, column by column (heap bytes, before the WAL's own headers).
_SIZES = """
    SELECT avg(pg_column_size(s.*)) AS "row", avg(pg_column_size(s.recorded_by)) AS recorded_by,
           avg(pg_column_size(s.event_id)) AS event_id, avg(pg_column_size(s.valid)) AS valid,
           (SELECT avg(pg_column_size(o.*)) FROM outbox o) AS "outbox row",
           (SELECT avg(pg_column_size(o.value)) FROM outbox o) AS "event JSON",
           (SELECT avg(pg_column_size(m.*)) FROM members m) AS "members row"
    FROM member_states s"""


def _label(query: str) -> str:
    text = re.sub(r"\s+", " ", query).strip()
    table = re.search(r"\b(?:INSERT INTO|UPDATE|CREATE TEMP TABLE|CREATE INDEX ON|ANALYZE|"
                      r"FROM)\s+(\w+)", text)
    head = " ".join(text.split(" ")[:2])
    return f"{head} … {table.group(1)}" if table else text[:40]


def _print_notice(_conn, message) -> None:
    print(message.message)


def _instrument(profile: Profile) -> None:
    """Wrap the connection methods the import calls, on the importing connection only (the
    one that sets the import's `work_mem`; the job's progress goes through others)."""
    cls = asyncpg.connection.Connection
    plain_execute, plain_copy = cls.execute, cls.copy_records_to_table

    async def execute(self, query, *args, **kwargs):
        if profile.watch is not None and query.startswith("SET LOCAL work_mem"):
            profile.backend_pid = self.get_server_pid()  # the importing connection's first
            if profile.pause_s:  # time to attach a profiler (`perf record -p`) to the backend
                print(f"importing backend: pid {profile.backend_pid}", flush=True)
                await asyncio.sleep(profile.pause_s)
            if profile.explain:
                await plain_execute(self, _AUTO_EXPLAIN)
                self.add_log_listener(_print_notice)
                profile.listening = self
        if self.get_server_pid() != profile.backend_pid or profile.watch is None:
            return await plain_execute(self, query, *args, **kwargs)
        try:
            return await profile.measured(_label(query),
                                          lambda: plain_execute(self, query, *args, **kwargs))
        finally:
            if profile.listening is self and query.startswith(("COMMIT", "ROLLBACK")):
                self.remove_log_listener(_print_notice)  # before the pool takes it back
                profile.listening = None

    async def copy(self, table, **kwargs):
        if self.get_server_pid() != profile.backend_pid or profile.watch is None:
            return await plain_copy(self, table, **kwargs)
        return await profile.measured(f"COPY {table} (reading and checking the file)",
                                      lambda: plain_copy(self, table, **kwargs))

    cls.execute, cls.copy_records_to_table = execute, copy


async def _job(pool: asyncpg.Pool, kind: str, original: Path) -> dict:
    job_id = f"bench-{uuid.uuid4().hex[:12]}"
    path = original.with_name(f"{job_id}.csv")  # a job removes its upload when it ends
    shutil.copyfile(original, path)
    spec = import_jobs.JobSpec(job_id, kind, "csv", "refuse", path, None, _ACTOR,
                               str(uuid.uuid4()))
    async with pool.acquire() as conn:
        await import_jobs.create(conn, spec, path.name, path.stat().st_size, None, _ACTOR)
    await import_jobs.run(pool, spec, gate=asyncio.Semaphore(1), source="/registration",
                          clock=lambda: datetime.now(UTC), today=date.today(),
                          max_errors=1000)
    return await import_jobs.fetch(pool, job_id)


async def run(args: argparse.Namespace, database_url: str, work: Path) -> None:
    units_path, members_path = generate(work, args.units, args.members)
    schema = f"importprofile_{uuid.uuid4().hex[:8]}"
    services_dir = Path(import_jobs.__file__).parent / "migrations"
    pool = await open_schema(database_url, schema, ("registration", services_dir),
                             min_size=1, max_size=4)
    watch = await asyncpg.connect(database_url)
    profile = Profile(watch=None, explain=args.explain, pause_s=args.pause)
    _instrument(profile)
    try:
        units = await _job(pool, "units", units_path)
        if units["status"] != "succeeded":
            raise RuntimeError(f"units import {units}")
        profile.watch = watch
        wall, py_cpu = time.perf_counter(), time.process_time()
        members = await _job(pool, "members", members_path)
        wall, py_cpu = time.perf_counter() - wall, time.process_time() - py_cpu
        if members["status"] != "succeeded":
            raise RuntimeError(f"members import {members}")
        profile.watch = None
        async with pool.acquire() as conn:
            sizes = await conn.fetchrow(_SIZES)
        again = await _job(pool, "members", members_path) if args.again else None
    finally:
        profile.watch = None
        await watch.close()
        await pool.close()
    print(f"{args.members:,} members in {args.units:,} units: {members['registered']:,} "
          f"registered in {wall:.2f} s (Python CPU {py_cpu:.2f} s)")
    print(f"{'statement':<58} {'s':>6} {'WAL MB':>7} {'B/row':>6} {'db CPU':>6} {'py CPU':>6}")
    total = Statement("total", 0, 0, 0, 0)
    for s in profile.statements:
        if s.seconds < 0.005 and s.wal_bytes < 10_000:
            total.seconds += s.seconds
            total.wal_bytes += s.wal_bytes
            total.backend_cpu += s.backend_cpu
            total.python_cpu += s.python_cpu
            continue
        print(f"{s.label[:58]:<58} {s.seconds:6.2f} {s.wal_bytes / 1e6:7.1f} "
              f"{s.wal_bytes / args.members:6.0f} {s.backend_cpu:6.2f} {s.python_cpu:6.2f}")
        total.seconds += s.seconds
        total.wal_bytes += s.wal_bytes
        total.backend_cpu += s.backend_cpu
        total.python_cpu += s.python_cpu
    print(f"{'all statements':<58} {total.seconds:6.2f} {total.wal_bytes / 1e6:7.1f} "
          f"{total.wal_bytes / args.members:6.0f} {total.backend_cpu:6.2f} "
          f"{total.python_cpu:6.2f}")
    print("bytes a row: " + ", ".join(f"{k} {v or 0:.0f}" for k, v in sizes.items()))
    if again is not None:
        print(f"re-import of the same file: {again['status']}, {again['registered']} registered,"
              f" {again['updated']} updated, {again['unchanged']:,} unchanged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--again", action="store_true",
                        help="import the members file a second time (it must change nothing)")
    parser.add_argument("--explain", action="store_true",
                        help="print the plans of statements over 50 ms (auto_explain, superuser)")
    parser.add_argument("--pause", type=float, default=0,
                        help="print the importing backend's pid and wait this many seconds")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with tempfile.TemporaryDirectory() as work:
        database_url = os.environ.get("DATABASE_URL")
        if database_url:
            asyncio.run(run(args, database_url, Path(work)))
            return
        from services.devstack.embedded import embedded_postgres
        with embedded_postgres(Path(work) / "pgdata") as url:
            asyncio.run(run(args, url, Path(work)))


if __name__ == "__main__":
    main()

"""Import jobs: the `import_jobs` row a caller polls, and the run that reads an uploaded file,
checks it and records it (`directory_import.py`).

A job runs in the API process that took the upload, as a task beside the requests; at most
`import_concurrency` run at once, the others wait as `queued`. While it runs, a ticker writes
its progress (rows read, rows refused) and a heartbeat; a job whose heartbeat stops (the process
ended) reads as `failed`, interrupted, and its file is simply uploaded again — nothing of it was
committed, since a job commits once, at its end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter, Histogram

from . import directory_import, import_checks
from .import_files import FileProblem, Format, RowError, estimate_rows, read_rows
from .import_rows import Kind, column_positions, row_checker

log = structlog.get_logger()

IMPORT_ROWS = Counter("registration_import_rows_total",
                      "Rows of imported files by what became of them", ["kind", "outcome"])
IMPORT_JOBS = Counter("registration_import_jobs_total", "Import jobs ended, by status",
                      ["kind", "status"])
IMPORT_SECONDS = Histogram("registration_import_seconds", "Duration of an import job",
                           ["kind"], buckets=(1, 5, 15, 30, 60, 120, 300, 900))

RUNNING = ("queued", "reading", "checking", "importing")
PROGRESS_EVERY_S = 0.5
# Rows read between two yields to the event loop, so requests keep being answered meanwhile.
_ROWS_PER_YIELD = 500

JOB_COLUMNS = """job_id, kind, format, on_error, status, filename, size_bytes, rows_total,
                 rows_read, rows_bad, registered, updated, unchanged, errors, failure,
                 scope_unit_id, requested_by, correlation_id, created_at, heartbeat_at,
                 finished_at"""
_INSERT = """
    INSERT INTO import_jobs (job_id, kind, format, on_error, status, filename, size_bytes,
                             rows_total, scope_unit_id, requested_by, correlation_id)
    VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9::jsonb, $10)
    RETURNING """ + JOB_COLUMNS


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    kind: Kind
    format: Format
    on_error: str
    path: Path
    scope_unit_id: str | None
    actor_json: str
    correlation_id: str


@dataclass
class Progress:
    """What the reading has found so far; errors kept up to `max_errors`."""

    max_errors: int
    read: int = 0
    bad: int = 0
    errors: list[RowError] = field(default_factory=list)

    def refuse(self, errors: list[RowError]) -> None:
        self.bad += 1
        room = self.max_errors - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])


class Refused(Exception):
    def __init__(self, bad: int, errors: list[RowError]) -> None:
        super().__init__(f"{bad} rows refused")
        self.bad = bad
        self.errors = errors


async def create(conn: asyncpg.Connection, spec: JobSpec, filename: str | None, size: int,
                 rows_total: int | None, requested_by: str) -> dict[str, Any]:
    return dict(await conn.fetchrow(
        _INSERT, spec.job_id, spec.kind, spec.format, spec.on_error, filename, size, rows_total,
        spec.scope_unit_id, requested_by, spec.correlation_id))


async def fetch(db: asyncpg.Pool | asyncpg.Connection, job_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow(f"SELECT {JOB_COLUMNS} FROM import_jobs WHERE job_id = $1", job_id)
    return None if row is None else dict(row)


async def page(db: asyncpg.Pool, *, scope_units: list[str] | None, kind: str | None,
               status: str | None, before: tuple[datetime, str] | None,
               limit: int) -> list[dict[str, Any]]:
    """Jobs newest first; `scope_units` None for every job, else those scoped to these units."""
    rows = await db.fetch(f"""
        SELECT {JOB_COLUMNS} FROM import_jobs
        WHERE ($1::text[] IS NULL OR scope_unit_id = ANY($1))
          AND ($2::text IS NULL OR kind = $2)
          AND ($3::text IS NULL OR status = $3)
          AND ($4::timestamptz IS NULL OR (created_at, job_id) < ($4, $5))
        ORDER BY created_at DESC, job_id DESC LIMIT $6""",
        scope_units, kind, status, before[0] if before else None, before[1] if before else None,
        limit)
    return [dict(r) for r in rows]


async def _update(pool: asyncpg.Pool, job_id: str, **values: Any) -> None:
    names = list(values)
    sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
    await pool.execute(f"UPDATE import_jobs SET {sets}, heartbeat_at = now() WHERE job_id = $1",
                       job_id, *values.values())


async def _finish(pool: asyncpg.Pool, spec: JobSpec, status: str, *, progress: Progress,
                  errors: list[RowError], bad: int, outcome=None, failure: str | None = None,
                  started: float) -> None:
    await pool.execute("""
        UPDATE import_jobs SET status = $2, rows_read = $3, rows_total = $3, rows_bad = $4,
               registered = $5, updated = $6, unchanged = $7, errors = $8::jsonb, failure = $9,
               heartbeat_at = now(), finished_at = now()
        WHERE job_id = $1""",
        spec.job_id, status, progress.read, bad, outcome.registered if outcome else 0,
        outcome.updated if outcome else 0, outcome.unchanged if outcome else 0,
        json.dumps([e.as_json() for e in errors], ensure_ascii=False), failure)
    IMPORT_JOBS.labels(spec.kind, status).inc()
    IMPORT_SECONDS.labels(spec.kind).observe(time.perf_counter() - started)
    if outcome is not None:
        for name in ("registered", "updated", "unchanged"):
            IMPORT_ROWS.labels(spec.kind, name).inc(getattr(outcome, name))
    IMPORT_ROWS.labels(spec.kind, "refused").inc(bad)
    log.info("import_finished", job_id=spec.job_id, kind=spec.kind, status=status,
             rows=progress.read, bad=bad, failure=failure,
             registered=outcome.registered if outcome else 0,
             updated=outcome.updated if outcome else 0,
             seconds=round(time.perf_counter() - started, 3))


async def _staged(rows: Iterator[tuple[int, list[Any]]],
                  check: Callable[[int, list[Any]], Any], progress: Progress
                  ) -> AsyncIterator[tuple]:
    """The file's good rows for COPY; the bad ones counted and their errors kept."""
    since_yield = 0
    for number, cells in rows:
        out = check(number, cells)
        if out is None:
            continue
        progress.read += 1
        if out.__class__ is tuple:
            yield out
        else:
            progress.refuse(out)
        since_yield += 1
        if since_yield == _ROWS_PER_YIELD:
            since_yield = 0
            await asyncio.sleep(0)


async def _tick(pool: asyncpg.Pool, job_id: str, progress: Progress) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        try:
            # A tick still under way when the job ends must not overwrite its final counts.
            await pool.execute("""UPDATE import_jobs SET rows_read = $2, rows_bad = $3,
                                  heartbeat_at = now()
                                  WHERE job_id = $1 AND finished_at IS NULL""",
                               job_id, progress.read, progress.bad)
        except (OSError, asyncpg.PostgresError) as exc:  # progress is advisory: keep importing
            log.warning("import_progress_not_written", job_id=job_id, error=str(exc))


async def run(pool: asyncpg.Pool, spec: JobSpec, *, gate: asyncio.Semaphore, source: str,
              clock: Callable[[], datetime], today, max_errors: int) -> None:
    """Read, check and record one uploaded file; the job row says how it went. Never raises."""
    started = time.perf_counter()
    progress = Progress(max_errors)
    ticker = asyncio.create_task(_tick(pool, spec.job_id, progress))
    try:
        async with gate:
            await _update(pool, spec.job_id, status="reading")
            outcome, bad, errors = await _import(pool, spec, progress, source=source,
                                                 clock=clock, today=today,
                                                 max_errors=max_errors)
        await _finish(pool, spec, "succeeded", progress=progress, errors=errors, bad=bad,
                      outcome=outcome, started=started)
    except Refused as refused:
        await _finish(pool, spec, "refused", progress=progress, errors=refused.errors,
                      bad=refused.bad, started=started)
    except FileProblem as problem:
        await _finish(pool, spec, "refused", progress=progress,
                      errors=progress.errors + problem.errors, bad=progress.bad + 1,
                      failure=str(problem), started=started)
    except directory_import.ConcurrentRegistration:
        await _finish(pool, spec, "failed", progress=progress, errors=[], bad=0,
                      failure="another command registered an id of this file meanwhile; "
                              "nothing was imported: upload the file again", started=started)
    except asyncio.CancelledError:
        await asyncio.shield(_finish(pool, spec, "failed", progress=progress, errors=[], bad=0,
                                     failure="interrupted: the service stopped; nothing was "
                                             "imported: upload the file again",
                                     started=started))
        raise
    except Exception as exc:
        log.error("import_failed", job_id=spec.job_id, error=str(exc), exc_info=exc)
        await _finish(pool, spec, "failed", progress=progress, errors=[], bad=0,
                      failure=f"internal error; nothing was imported (correlation id "
                              f"{spec.correlation_id})", started=started)
    finally:
        ticker.cancel()
        spec.path.unlink(missing_ok=True)


async def _import(pool: asyncpg.Pool, spec: JobSpec, progress: Progress, *, source: str,
                  clock: Callable[[], datetime], today, max_errors: int):
    sheet = read_rows(spec.path, spec.format)
    try:
        check = row_checker(spec.kind, column_positions(spec.kind, sheet.header))
        caller = import_checks.Caller(spec.scope_unit_id, today, spec.actor_json)
        return await _record(pool, spec, progress, sheet, check, caller, source=source,
                             clock=clock, max_errors=max_errors)
    finally:
        sheet.close()


async def _record(pool, spec: JobSpec, progress: Progress, sheet, check, caller, *, source: str,
                  clock: Callable[[], datetime], max_errors: int):
    async with pool.acquire() as conn, conn.transaction():
        await directory_import.stage(conn, spec.kind, _staged(sheet.rows, check, progress))
        await _update(pool, spec.job_id, status="checking", rows_total=progress.read,
                      rows_read=progress.read)
        await import_checks.check(conn, spec.kind, caller)
        db_bad, db_errors = await directory_import.bad_rows(conn, max_errors)
        bad = progress.bad + db_bad
        errors = sorted(progress.errors + db_errors, key=lambda e: e.row)[:max_errors]
        if bad and spec.on_error == "refuse":
            raise Refused(bad, errors)
        await _update(pool, spec.job_id, status="importing", rows_bad=bad)
        outcome = await directory_import.record(
            conn, spec.kind, source=source, time=clock(), correlation_id=spec.correlation_id,
            actor_json=spec.actor_json, job_id=spec.job_id)
    return outcome, bad, errors


def header_problem(path: Path, fmt: Format, kind: Kind) -> list[RowError]:
    """The file's header checked before a job is made (blocking: run it in a thread)."""
    try:
        sheet = read_rows(path, fmt)
        try:
            column_positions(kind, sheet.header)
        finally:
            sheet.close()
    except FileProblem as problem:
        return problem.errors
    return []


def estimate(path: Path, fmt: Format) -> int | None:
    return estimate_rows(path, fmt)

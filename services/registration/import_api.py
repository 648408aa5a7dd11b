"""Bulk imports over HTTP: a CSV or .xlsx file uploaded as the request body becomes a job
(`import_jobs.py`) the caller polls for its progress and its per-row error report.

The body is written to a temporary file as it arrives (never held in memory) and its header
checked before the job is made, so a file with unknown or missing columns is refused at once
(422 naming the columns); the rows are then read and checked by the job.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from services.runtime import command_runs, idempotency
from services.runtime.access import Rule, Scope
from services.runtime.caller import Role
from services.runtime.domain_errors import Invalid, NotFound
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import import_jobs as jobs
from . import org_repository as repository
from .import_files import RowError, detect_format
from .import_rows import Kind
from .import_views import ImportJob, ImportJobPage, job_view

log = structlog.get_logger()
router = APIRouter(tags=["bulk import"])

IMPORTERS = Rule(
    "import-org", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL}, writes=True,
    summary="A city administrator anywhere; an official for rows inside their subtree as the "
            "tree stands today (the others are refused row by row as `unit_not_found`).",
)
JOB_READERS = Rule(
    "read-imports", {Role.CITY_ADMIN, Role.AUDITOR, Role.UPPER_OFFICIAL,
                     Role.GRASSROOTS_OFFICIAL},
    summary="City-wide roles every job; an official the jobs made in a unit of their subtree.",
)

OnError = Annotated[Literal["refuse", "skip"], Query(
    description="`refuse` (default): a file with any bad row imports nothing; `skip`: the good "
                "rows are imported and the bad ones reported.")]
Filename = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00-\x1f/\\]+$",
                                       description="The file's name, shown in the job.")]


class ImportNotFound(NotFound):
    def __init__(self, job_id: str) -> None:
        super().__init__("import_not_found", f"no import {job_id} in your scope", field="job_id")


class BadCursor(Invalid):
    def __init__(self) -> None:
        super().__init__("cursor_invalid", "not a cursor this API gave", field="query.cursor")


async def _spool(request: Request, directory: Path) -> tuple[Path, int, str, bytes]:
    """The body written to a temporary file as it arrives: its path, size, digest, first bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix="import-", delete=False)
    path = Path(handle.name)
    try:
        with handle:
            async for chunk in request.stream():
                if not chunk:
                    continue
                if len(head) < 8:
                    head += chunk[:8]
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size, digest.hexdigest(), head


def _file_refused(errors: list[RowError]) -> RequestValidationError:
    return RequestValidationError([
        {"type": e.code, "loc": ("body", "file", *([e.column] if e.column else [])),
         "msg": e.reason if e.row <= 1 else f"row {e.row}: {e.reason}", "input": None}
        for e in errors])


async def _upload(kind: Kind, request: Request, scope: Scope, on_error: str,
                  filename: str | None, key: str | None) -> Response:
    runtime = request.app.state.runtime
    settings = runtime.settings
    directory = Path(settings.import_dir or tempfile.gettempdir()) / "thidua-imports"
    path, size, digest, head = await _spool(request, directory)
    try:
        if size == 0:
            raise _file_refused([RowError(1, None, "file_empty", "the file is empty")])
        fmt = detect_format(head, request.headers.get("content-type"))
        problems = await asyncio.to_thread(jobs.header_problem, path, fmt, kind)
        if problems:
            raise _file_refused(problems)
        caller = scope.caller
        scope_unit = None if caller.role is Role.CITY_ADMIN else caller.unit_id
        spec = jobs.JobSpec(
            job_id=f"imp-{uuid.uuid4().hex[:20]}", kind=kind, format=fmt, on_error=on_error,
            path=path, scope_unit_id=scope_unit, actor_json=scope.actor.model_dump_json(),
            correlation_id=request.state.correlation_id)
        rows_total = await asyncio.to_thread(jobs.estimate, path, fmt)
        fingerprint = hashlib.sha256(
            f"POST /imports/{kind} {caller.subject} {on_error} {filename}\n{digest}".encode()
        ).hexdigest()

        async def work(conn) -> bytes:
            row = await jobs.create(conn, spec, filename, size, rows_total,
                                    scope.actor.model_dump_json())
            job = job_view(row, settings.import_stale_after_s, row["created_at"])
            return job.__pydantic_serializer__.to_json(job)

        body, kept = await command_runs.run_once(runtime.pool, key, fingerprint, 202, work)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if kept is not None:
        path.unlink(missing_ok=True)
        return idempotency.replay(kept, fingerprint)
    runner = asyncio.create_task(jobs.run(
        runtime.pool, spec, gate=_gate(request), source=runtime.envelopes.source,
        clock=runtime.definition.clock, today=scope.today,
        max_errors=settings.import_max_errors))
    tasks = request.app.state.__dict__.setdefault("import_tasks", set())
    tasks.add(runner)
    runner.add_done_callback(tasks.discard)
    log.info("import_accepted", job_id=spec.job_id, kind=kind, format=fmt, size_bytes=size,
             on_error=on_error)
    return Response(body, status_code=202, media_type="application/json",
                    headers={"Location": f"/imports/{spec.job_id}"})


def _gate(request: Request) -> asyncio.Semaphore:
    state = request.app.state
    gate = getattr(state, "import_gate", None)
    if gate is None:
        gate = state.import_gate = asyncio.Semaphore(
            request.app.state.runtime.settings.import_concurrency)
    return gate


_UPLOAD_DOC = {
    "requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}}}},
}


@router.post("/imports/units", status_code=status.HTTP_202_ACCEPTED, response_model=ImportJob,
             openapi_extra=_UPLOAD_DOC,
             responses=problem_responses(401, 403, 413, 422, 503))
async def import_units(request: Request, scope: Annotated[Scope, Depends(IMPORTERS)],
                       on_error: OnError = "refuse", filename: Filename = None,
                       idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Upload a CSV (UTF-8) or .xlsx file of units (columns in the service README) as the
    body; answers the job to poll at `Location`. Registers new units, records a new dated state
    for existing ones whose row differs, and leaves alone those whose state already holds."""
    return await _upload("units", request, scope, on_error, filename, idempotency_key)


@router.post("/imports/members", status_code=status.HTTP_202_ACCEPTED, response_model=ImportJob,
             openapi_extra=_UPLOAD_DOC,
             responses=problem_responses(401, 403, 413, 422, 503))
async def import_members(request: Request, scope: Annotated[Scope, Depends(IMPORTERS)],
                         on_error: OnError = "refuse", filename: Filename = None,
                         idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Upload a CSV (UTF-8) or .xlsx file of members as the body; answers the job to poll."""
    return await _upload("members", request, scope, on_error, filename, idempotency_key)


async def _visible(scope: Scope, row: dict[str, Any], pool) -> bool:
    c = scope.caller
    if c.city_wide:
        return True
    unit = row["scope_unit_id"]
    return unit is not None and c.unit_id is not None and await repository.OrgTree(pool).inside(
        unit, c.unit_id, scope.today)


@router.get("/imports/{job_id}", responses=problem_responses(401, 403, 404, 422, 503))
async def get_import(job_id: Identifier, request: Request,
                     scope: Annotated[Scope, Depends(JOB_READERS)]) -> ImportJob:
    """The job's status, rows read of the total, counts and the error report."""
    runtime = request.app.state.runtime
    row = await jobs.fetch(runtime.pool, job_id)
    if row is None or not await _visible(scope, row, runtime.pool):
        raise ImportNotFound(job_id)
    return job_view(row, runtime.settings.import_stale_after_s, runtime.definition.clock())


def _cursor(row: dict[str, Any]) -> str:
    text = f"{row['created_at'].isoformat()}|{row['job_id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_",
                                validate=True).decode()
        moment, job_id = text.split("|", 1)
        return datetime.fromisoformat(moment), job_id
    except ValueError:
        raise BadCursor() from None


@router.get("/imports", responses=problem_responses(401, 403, 422, 503))
async def list_imports(
    request: Request, scope: Annotated[Scope, Depends(JOB_READERS)],
    kind: Annotated[Kind | None, Query(description="Only jobs of this kind.")] = None,
    job_status: Annotated[Literal["queued", "reading", "checking", "importing", "succeeded",
                                  "refused", "failed"] | None,
                          Query(alias="status", description="Only jobs in this status.")] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ImportJobPage:
    """Import jobs, newest first, a page at a time: every job for city-wide roles, else those
    made in a unit of the caller's subtree."""
    runtime = request.app.state.runtime
    before = _after(cursor)
    c = scope.caller
    units = None
    if not c.city_wide:
        units = [u["unit_id"] for u in await _subtree(runtime.pool, c.unit_id, scope.today)]
    rows = await jobs.page(runtime.pool, scope_units=units, kind=kind, status=job_status,
                           before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    now = runtime.definition.clock()
    return ImportJobPage(items=[job_view(r, runtime.settings.import_stale_after_s, now)
                                for r in rows],
                         next_cursor=_cursor(rows[-1]) if more else None)


async def _subtree(pool, unit_id: str | None, day) -> list[Any]:
    if unit_id is None:
        return []
    return await pool.fetch(f"""
        WITH RECURSIVE down (unit_id, depth) AS (
            SELECT $1::text, 0
            UNION
            SELECT s.unit_id, d.depth + 1 FROM down d
            JOIN unit_states s ON s.parent_id = d.unit_id AND s.valid @> $2::date
            WHERE d.depth < {repository.MAX_DEPTH})
        SELECT unit_id FROM down""", unit_id, day)

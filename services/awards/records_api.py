"""Facts officials record for awards: exclusions per member (one, or a CSV/.xlsx file) and
earlier years' decisions imported into the title history (CSV/.xlsx)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from contracts.events.rules import ExclusionKind
from services.runtime import command_runs, idempotency
from services.runtime.access import ALL_ROLES, MemberNotFound, Rule, Scope
from services.runtime.caller import OFFICIALS, Role
from services.runtime.domain_errors import Conflict, NotFound
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import exclusion_records, history_import
from .proposal_queries import decode_cursor, encode_cursor
from .table_files import UnreadableTable, rows_of

router = APIRouter(tags=["exclusions and history"])

RECORDERS = Rule(
    "record-award-facts", OFFICIALS, writes=True,
    summary="An official for members and units in their subtree as the tree stands today (a "
            "city administrator everywhere); a file's rows outside it are refused by line.")
EXCLUSION_READERS = Rule(
    "read-exclusions", ALL_ROLES,
    summary="The member themself, or anyone whose subtree holds the member's unit.")

FILE_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}}}}}


class RecordExclusion(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    year: int = Field(ge=1975, le=2100, description="The award year it applies to.")
    kind: ExclusionKind
    source: str = Field(min_length=1, max_length=200,
                        description="Where it comes from, e.g. `bảng chấm công 2025`.")
    note: str | None = Field(None, max_length=200)


class ExclusionView(BaseModel):
    member_id: str
    year: int
    kind: str
    source: str
    note: str | None
    unit_id: str
    recorded_at: datetime
    recorded_by: dict


class ExclusionPage(BaseModel):
    items: list[ExclusionView]
    next_cursor: str | None


class Imported(BaseModel):
    rows: int = Field(description="Rows in the file.")
    imported: int = Field(description="Rows stored now.")
    already_recorded: int = Field(description="Rows already held, kept as they were.")


class ExclusionExists(Conflict):
    def __init__(self) -> None:
        super().__init__("exclusion_exists",
                         "this exclusion is already recorded for the member and year",
                         field="kind")


def _refuse(errors: list[dict]) -> None:
    raise RequestValidationError([
        {"type": "row_invalid", "loc": ("body", "rows", e["line"], e["field"] or "row"),
         "msg": e["message"]} for e in errors[:200]])


async def _file(request: Request) -> list[dict[str, str]]:
    try:
        return list(rows_of(await request.body(), request.headers.get("content-type", "")))
    except UnreadableTable as exc:
        raise RequestValidationError([{"type": "file_unreadable", "loc": ("body",),
                                       "msg": str(exc)}]) from None


async def _outside(scope: Scope, units: set[str]) -> set[str]:
    if scope.caller.role is Role.CITY_ADMIN:
        return set()
    inside = await scope.directory.units_inside(units, scope.caller.unit_id or "", scope.today)
    return units - inside


@router.post("/members/{member_id}/exclusions", status_code=status.HTTP_201_CREATED,
             response_model=ExclusionView,
             responses=problem_responses(401, 403, 404, 409, 422, 503))
async def record_exclusion(member_id: Identifier, command: RecordExclusion, request: Request,
                           scope: Annotated[Scope, Depends(RECORDERS)],
                           idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Record a disqualifier against a member for a year, with its source: the member is out
    of every member title of that year whose rule set names the kind."""
    runtime = request.app.state.runtime
    member = await scope.directory.member(member_id, scope.today)
    if member is None:
        raise MemberNotFound(member_id)
    await scope.require_acting_on(member.unit_id)
    now = runtime.definition.clock()
    row = exclusion_records.ExclusionRow(member_id, command.year, command.kind, command.source,
                                         command.note)

    async def work(conn) -> ExclusionView:
        if not await exclusion_records.store(conn, [row], {member_id: member.unit_id},
                                             scope.actor.model_dump(), now):
            raise ExclusionExists()
        return ExclusionView(member_id=member_id, year=row.year, kind=row.kind,
                             source=row.source, note=row.note, unit_id=member.unit_id,
                             recorded_at=now, recorded_by=scope.actor.model_dump())

    fingerprint = idempotency.fingerprint("POST", request.url.path, command,
                                          caller=scope.caller.subject)
    return await command_runs.run(runtime.pool, idempotency_key, fingerprint, 201, work)


@router.get("/members/{member_id}/exclusions",
            responses=problem_responses(401, 403, 404, 422, 503))
async def member_exclusions(
    member_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(EXCLUSION_READERS)],
    year: Annotated[int | None, Query(ge=1975, le=2100)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ExclusionPage:
    """The exclusions recorded against a member, by year and kind."""
    await scope.require_member(member_id)
    rows = await exclusion_records.of_member(request.app.state.runtime.pool, member_id, year,
                                             decode_cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return ExclusionPage(
        items=[ExclusionView.model_validate(r) for r in rows],
        next_cursor=encode_cursor(f"{rows[-1]['year']}/{rows[-1]['kind']}") if more else None)


@router.post("/exclusions/imports", response_model=Imported, openapi_extra=FILE_BODY,
             responses=problem_responses(401, 403, 413, 422, 503))
async def import_exclusions(request: Request, scope: Annotated[Scope, Depends(RECORDERS)],
                            idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Import exclusions from a CSV (UTF-8) or .xlsx file; one bad row refuses the file, each
    problem named `rows[<line>].<column>`."""
    runtime = request.app.state.runtime
    parsed = exclusion_records.validate(await _file(request))
    if parsed.errors:
        _refuse(parsed.errors)
    units: dict[str, str] = {}
    if parsed.rows:
        found = await runtime.pool.fetch(
            """SELECT member_id, unit_id FROM directory_members
               WHERE member_id = ANY($1::text[]) AND valid @> $2::date""",
            list({r.member_id for r in parsed.rows}), scope.today)
        units = {r[0]: r[1] for r in found}
        outside = await _outside(scope, set(units.values()))
        for line, r in zip(parsed.lines, parsed.rows, strict=True):
            if units.get(r.member_id) in (None, *outside):  # as for one member: 404
                raise NotFound("member_not_found", f"no member {r.member_id} in your scope",
                               field=f"rows[{line}].member_id")
    now = runtime.definition.clock()
    command = _FileDigest(digest=hashlib.sha256(await request.body()).hexdigest())

    async def work(conn) -> Imported:
        stored = await exclusion_records.store(conn, parsed.rows, units,
                                               scope.actor.model_dump(), now)
        return Imported(rows=len(parsed.rows), imported=stored,
                        already_recorded=len(parsed.rows) - stored)

    fingerprint = idempotency.fingerprint("POST", request.url.path, command,
                                          caller=scope.caller.subject)
    return await command_runs.run(runtime.pool, idempotency_key, fingerprint, 200, work)


@router.post("/title-history/imports", response_model=Imported, openapi_extra=FILE_BODY,
             responses=problem_responses(401, 403, 413, 422, 503))
async def import_history(request: Request, scope: Annotated[Scope, Depends(RECORDERS)],
                         idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Import earlier years' decisions (CSV or .xlsx; columns in the README) into the title
    history that consecutive-year prerequisites read; a title already held for a year is kept."""
    runtime = request.app.state.runtime
    parsed = history_import.validate(await _file(request))
    if parsed.errors:
        _refuse(parsed.errors)
    outside = await _outside(scope, {r.unit_id for r in parsed.rows})
    for line, r in zip(parsed.lines, parsed.rows, strict=True):
        if r.unit_id in outside:
            raise NotFound("unit_not_found", f"no unit {r.unit_id} in your scope",
                           field=f"rows[{line}].unit_id")
    command = _FileDigest(digest=hashlib.sha256(await request.body()).hexdigest())

    async def work(conn) -> Imported:
        stored = await history_import.store(conn, parsed.rows)
        return Imported(rows=len(parsed.rows), imported=stored,
                        already_recorded=len(parsed.rows) - stored)

    fingerprint = idempotency.fingerprint("POST", request.url.path, command,
                                          caller=scope.caller.subject)
    return await command_runs.run(runtime.pool, idempotency_key, fingerprint, 200, work)


class _FileDigest(BaseModel):
    digest: str


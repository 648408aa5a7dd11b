"""Works for plaques over HTTP: registered by their unit's officials, approved by an upper
union's, which emits `thidua.work.registered.v1`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from contracts.events.base import Actor
from services.runtime import command_runs, idempotency
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import Role
from services.runtime.domain_errors import NotFound
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import phase_gate
from . import works_domain as domain
from . import works_repository as repository
from .answers import to_json
from .list_scope import listed_units
from .org_queries import BadCursor, Cursor, Limit
from .org_repository import decode_cursor, encode_cursor
from .phase_gate import check_window

log = structlog.get_logger()
router = APIRouter(tags=["works for plaques"])

WORK_REGISTRANTS = Rule(
    "register-work", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL},
    writes=True,
    summary="An official whose subtree holds the work's unit as the tree stands today.",
)
WORK_APPROVERS = Rule(
    "approve-work", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL}, writes=True,
    summary="An upper official for a union in their subtree above the work's unit (their own "
            "by default); a city administrator naming the union.",
)
WORK_READERS = Rule(
    "read-work", ALL_ROLES - {Role.MEMBER},
    summary="Anyone whose subtree holds the work's unit today; city-wide roles all.",
)


class WorkAnswer(BaseModel):
    work_id: str
    status: Literal["registered", "approved"]
    event_id: str | None = Field(description="Id of the `thidua.work.registered.v1` event, "
                                             "once approved.")
    correlation_id: str


class WorkView(BaseModel):
    work_id: str
    campaign_id: str
    phase_id: str
    unit_id: str
    name: str
    value_vnd: int
    occasion: str
    occasion_date: date | None
    status: str
    registered_at: datetime
    registered_by: Actor
    plaque_level: str | None
    approved_at: datetime | None
    approved_by: Actor | None
    approving_unit_id: str | None
    event_id: str | None


class WorkPage(BaseModel):
    items: list[WorkView]
    next_cursor: str | None


@router.post("/works", status_code=status.HTTP_201_CREATED, response_model=WorkAnswer,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def register_work(command: domain.RegisterWork, request: Request,
                        scope: Annotated[Scope, Depends(WORK_REGISTRANTS)],
                        idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Register a work for a plaque; it is announced once an upper union approves it."""
    await scope.require_acting_on(command.unit_id)
    reach, _ = await phase_gate.admit(request, scope, command.campaign_id, command.phase_id,
                                      command.unit_id, "entries")
    work_id = domain.new_work_id(command)

    async def work(conn) -> bytes:
        await phase_gate.enter(conn, reach, command.phase_id, scope.today, "entries")
        await repository.record_work(conn, work_id, command, scope.actor.model_dump_json())
        log.info("work_registered", work_id=work_id, unit_id=command.unit_id)
        return to_json(WorkAnswer(work_id=work_id, status="registered", event_id=None,
                                  correlation_id=request.state.correlation_id))

    return await command_runs.run(
        request.app.state.runtime.pool, idempotency_key,
        idempotency.fingerprint("POST", "/works", command,
                                caller=scope.caller.subject),
        201, work)


async def _visible_work(request: Request, scope: Scope, work_id: str) -> dict:
    found = await repository.find(request.app.state.runtime.pool, work_id)
    if found is None or not await scope.holds_unit(found["unit_id"]):
        raise domain.WorkNotFound(work_id)
    return found


@router.post("/works/{work_id}/approval", status_code=status.HTTP_201_CREATED,
             response_model=WorkAnswer,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def approve_work(work_id: Identifier, command: domain.ApproveWork, request: Request,
                       scope: Annotated[Scope, Depends(WORK_APPROVERS)],
                       idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Approve attaching the union's plaque; emits `thidua.work.registered.v1` (key: the work's
    unit) with `plaque_level` the approving union's level. Once (409 `work_already_approved`)."""
    runtime = request.app.state.runtime
    found = await _visible_work(request, scope, work_id)
    try:
        unit = await scope.require_acting_on(found["unit_id"])
    except NotFound:
        raise domain.WorkNotFound(work_id) from None
    approver_id = command.approving_unit_id or scope.caller.unit_id
    if approver_id is None:
        raise domain.ApprovingUnitRequired()
    approver = await scope.require_acting_on(approver_id, field="approving_unit_id")
    domain.check_approver(approver_id, await scope.directory.inside(
        found["unit_id"], approver_id, scope.today), found["unit_id"])
    reach = await phase_gate.campaign(request, found["campaign_id"])
    check_window(reach, found["phase_id"], scope.today, "reckoning")
    data = domain.work_registered(found, approver.kind, datetime.now(UTC), scope.actor)

    async def work(conn) -> bytes:
        await phase_gate.enter(conn, reach, found["phase_id"], scope.today, "reckoning")
        event = runtime.envelopes.for_command(data, district=unit.district_id,
                                              correlation_id=request.state.correlation_id,
                                              subject=work_id)
        await repository.record_approval(conn, event, approver_id)
        log.info("work_approved", work_id=work_id, plaque_level=data.plaque_level,
                 event_id=event.id)
        return to_json(WorkAnswer(work_id=work_id, status="approved", event_id=event.id,
                                  correlation_id=event.correlationid))

    return await command_runs.run(
        request.app.state.runtime.pool, idempotency_key,
        idempotency.fingerprint("POST", f"/works/{work_id}/approval", command,
                                caller=scope.caller.subject),
        201, work)


@router.get("/works", response_model=WorkPage, responses=problem_responses(401, 403, 422, 503))
async def list_works(
    request: Request, scope: Annotated[Scope, Depends(WORK_READERS)],
    campaign_id: Annotated[Identifier | None, Query()] = None,
    phase_id: Annotated[Identifier | None, Query()] = None,
    unit_id: Annotated[Identifier | None, Query()] = None,
    status: Annotated[Literal["registered", "approved"] | None, Query()] = None,
    cursor: Cursor = None, limit: Limit = 100,
) -> WorkPage:
    """Works of the units the caller sees, by id, filtered by campaign, phase, unit, status."""
    after = decode_cursor(cursor)
    if after is None:
        raise BadCursor()
    among, _ = await listed_units(scope)
    items = await repository.page(request.app.state.runtime.pool, campaign=campaign_id,
                                  phase=phase_id, unit=unit_id, state=status, among=among,
                                  after=after, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return WorkPage(items=[WorkView.model_validate(i) for i in items],
                    next_cursor=encode_cursor(items[-1]["work_id"]) if more else None)


@router.get("/works/{work_id}", response_model=WorkView,
            responses=problem_responses(401, 403, 404, 422, 503))
async def get_work(work_id: Identifier, request: Request,
                   scope: Annotated[Scope, Depends(WORK_READERS)]) -> WorkView:
    return WorkView.model_validate(await _visible_work(request, scope, work_id))

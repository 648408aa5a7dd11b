"""Pledges (giao ước thi đua) over HTTP: signed among units of one cluster, and each signing
unit's results against its targets; each passes its phase's gate (`phase_gate.py`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

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

from . import cluster_repository, phase_gate
from . import participation_domain as domain
from . import participation_repository as repository
from .answers import Recorded, recorded
from .campaign_domain import UnitOutsideCampaign
from .cluster_domain import ClusterNotFound
from .list_scope import listed_units
from .org_queries import BadCursor, Cursor, Limit
from .org_repository import decode_cursor, encode_cursor
from .phase_gate import check_window

log = structlog.get_logger()
router = APIRouter(tags=["participation"])

SIGNERS = Rule(
    "sign-pledge", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL}, writes=True,
    summary="An upper official whose subtree holds the cluster's organiser today (the pledge is "
            "signed at the cluster's conference); a city administrator anywhere.",
)
REPORTERS = Rule(
    "report-results", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL},
    writes=True,
    summary="An official whose subtree holds the reporting unit as the tree stands today.",
)
PLEDGE_READERS = Rule(
    "read-pledges", ALL_ROLES - {Role.MEMBER},
    summary="Anyone whose subtree holds one of the signing units today; city-wide roles all.",
)


class UnitResults(BaseModel):
    unit_id: str
    results: list[dict[str, Any]] = Field(description="`target_id`, `achieved_value`, `met`.")
    reported_at: datetime
    event_id: str
    reported_by: Actor


class PledgeView(BaseModel):
    pledge_id: str
    campaign_id: str
    phase_id: str
    cluster_id: str
    unit_ids: list[str]
    targets: list[dict[str, Any]]
    signed_on: date
    recorded_at: datetime
    recorded_by: Actor
    results: list[UnitResults] | None = Field(None, description="Reported so far (one pledge).")


class PledgePage(BaseModel):
    items: list[PledgeView]
    next_cursor: str | None


@router.post("/pledges", status_code=status.HTTP_201_CREATED, response_model=Recorded,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def sign_pledge(command: domain.SignPledge, request: Request,
                      scope: Annotated[Scope, Depends(SIGNERS)],
                      idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Record a pledge signed among units of one cluster, with its targets; emits one
    `thidua.pledge.signed.v1` per signing unit (key: that unit), naming the others."""
    runtime = request.app.state.runtime
    cluster = await cluster_repository.find(runtime.pool, command.cluster_id)
    if cluster is None:
        raise ClusterNotFound(command.cluster_id)
    try:
        await scope.require_acting_on(cluster["organizer_unit_id"], field="cluster_id")
    except NotFound:
        raise ClusterNotFound(command.cluster_id) from None
    units = domain.signing_units(command, cluster["cluster_id"], cluster["member_unit_ids"])
    reach = await phase_gate.campaign(request, command.campaign_id)
    check_window(reach, command.phase_id, scope.today, "entries")
    if cluster["year"] != reach.year:
        raise domain.ClusterYearMismatch(cluster["cluster_id"], cluster["year"], reach.year)
    reached = await scope.directory.units_inside(units, reach.organizer_unit_id, scope.today)
    for unit in units:
        if unit not in reached:
            raise UnitOutsideCampaign(unit, reach, "unit_ids")
    signed = domain.pledges_signed(command, units, scope.today, scope.actor)
    districts = {u: (await scope.directory.unit(u, scope.today)) for u in units}

    async def work(conn) -> bytes:
        await phase_gate.enter(conn, reach, command.phase_id, scope.today, "entries")
        events = [runtime.envelopes.for_command(
            data, district=getattr(districts[data.unit_id], "district_id", None),
            correlation_id=request.state.correlation_id, subject=data.pledge_id)
            for data in signed]
        await repository.record_pledge(conn, events)
        log.info("pledge_signed", pledge_id=signed[0].pledge_id, units=len(units),
                 cluster_id=command.cluster_id)
        return recorded(signed[0].pledge_id, events)

    return await command_runs.run(
        request.app.state.runtime.pool, idempotency_key,
        idempotency.fingerprint("POST", "/pledges", command,
                                caller=scope.caller.subject),
        201, work)


async def _visible_pledge(request: Request, scope: Scope, pledge_id: str) -> dict:
    found = await repository.find_pledge(request.app.state.runtime.pool, pledge_id)
    if found is None or not await _sees_any(scope, found["unit_ids"]):
        raise domain.PledgeNotFound(pledge_id)
    return found


async def _sees_any(scope: Scope, unit_ids: list[str]) -> bool:
    caller = scope.caller
    if caller.city_wide:
        return True
    if caller.unit_id is None:
        return False
    return bool(await scope.directory.units_inside(unit_ids, caller.unit_id, scope.today))


@router.post("/pledges/{pledge_id}/results", status_code=status.HTTP_201_CREATED,
             response_model=Recorded,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def report_results(pledge_id: Identifier, command: domain.ReportResults,
                         request: Request, scope: Annotated[Scope, Depends(REPORTERS)],
                         idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Report a signing unit's results against every target of the pledge; emits
    `thidua.pledge.result_reported.v1` (key: the unit), each target `met` when the value
    achieved reaches the value pledged. Once per unit (409 `results_already_reported`)."""
    runtime = request.app.state.runtime
    pledge = await _visible_pledge(request, scope, pledge_id)
    unit = await scope.require_acting_on(command.unit_id)
    if command.unit_id not in pledge["unit_ids"]:
        raise domain.NotSignatory(command.unit_id, pledge_id)
    reach = await phase_gate.campaign(request, pledge["campaign_id"])
    check_window(reach, pledge["phase_id"], scope.today, "reckoning")
    data = domain.results_reported(pledge, command, datetime.now(UTC), scope.actor)

    async def work(conn) -> bytes:
        await phase_gate.enter(conn, reach, pledge["phase_id"], scope.today, "reckoning")
        event = runtime.envelopes.for_command(data, district=unit.district_id,
                                              correlation_id=request.state.correlation_id,
                                              subject=pledge_id)
        await repository.record_results(conn, event)
        log.info("pledge_results_reported", pledge_id=pledge_id, unit_id=command.unit_id,
                 met=sum(r.met for r in data.results), event_id=event.id)
        return recorded(pledge_id, [event])

    return await command_runs.run(
        request.app.state.runtime.pool, idempotency_key,
        idempotency.fingerprint("POST", f"/pledges/{pledge_id}/results", command,
                                caller=scope.caller.subject),
        201, work)


@router.get("/pledges", response_model=PledgePage,
            responses=problem_responses(401, 403, 422, 503))
async def list_pledges(
    request: Request, scope: Annotated[Scope, Depends(PLEDGE_READERS)],
    campaign_id: Annotated[Identifier | None, Query()] = None,
    phase_id: Annotated[Identifier | None, Query()] = None,
    cluster_id: Annotated[Identifier | None, Query()] = None,
    unit_id: Annotated[Identifier | None, Query()] = None,
    cursor: Cursor = None, limit: Limit = 100,
) -> PledgePage:
    """Pledges signed by a unit the caller sees, by id, filtered by campaign, phase, cluster
    and signing unit."""
    after = decode_cursor(cursor)
    if after is None:
        raise BadCursor()
    among, _ = await listed_units(scope)
    items = await repository.pledges(
        request.app.state.runtime.pool, campaign=campaign_id, phase=phase_id, cluster=cluster_id,
        unit=unit_id, among=among, after=after, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return PledgePage(items=[PledgeView.model_validate(i) for i in items],
                      next_cursor=encode_cursor(items[-1]["pledge_id"]) if more else None)


@router.get("/pledges/{pledge_id}", response_model=PledgeView,
            responses=problem_responses(401, 403, 404, 422, 503))
async def get_pledge(pledge_id: Identifier, request: Request,
                     scope: Annotated[Scope, Depends(PLEDGE_READERS)]) -> PledgeView:
    """The pledge with the results reported so far."""
    pledge = await _visible_pledge(request, scope, pledge_id)
    pledge["results"] = await repository.results_of(request.app.state.runtime.pool, pledge_id)
    return PledgeView.model_validate(pledge)

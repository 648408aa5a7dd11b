"""Clusters over HTTP: formed by an upper unit from units below it, for a year."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from contracts.events.base import Actor
from services.runtime import command_runs, idempotency
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import cluster_domain as domain
from . import cluster_repository as repository
from .answers import to_json
from .org_queries import BadCursor, Cursor, Limit
from .org_repository import decode_cursor, encode_cursor
from .phase_gate import visible_organizers

log = structlog.get_logger()
router = APIRouter(tags=["clusters"])

FORMERS = Rule(
    "form-cluster", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL}, writes=True,
    summary="An upper official for an organiser in their subtree as the tree stands today (the "
            "units grouped lie under it); a city administrator anywhere.",
)
CLUSTER_READERS = Rule(
    "read-cluster", ALL_ROLES - {Role.MEMBER},
    summary="Anyone whose subtree holds the organiser, or whose unit lies under it; city-wide "
            "roles all.",
)


class ClusterFormedAnswer(BaseModel):
    cluster_id: str
    event_id: str = Field(description="Id of the `thidua.cluster.formed.v1` event.")
    correlation_id: str


class ClusterView(BaseModel):
    cluster_id: str
    name: str
    organizer_unit_id: str
    year: int
    effective_from: date
    member_unit_ids: list[str]
    formed_at: datetime
    event_id: str
    formed_by: Actor


class ClusterPage(BaseModel):
    items: list[ClusterView]
    next_cursor: str | None


@router.post("/clusters", status_code=status.HTTP_201_CREATED,
             response_model=ClusterFormedAnswer,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def form_cluster(command: domain.FormCluster, request: Request,
                       scope: Annotated[Scope, Depends(FORMERS)],
                       idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Group units under the organiser into a cluster for the year; emits
    `thidua.cluster.formed.v1` (key: the organiser). A unit is in at most one cluster of an
    organiser a year (409 `unit_in_another_cluster`)."""
    runtime = request.app.state.runtime
    settings = runtime.definition.settings
    domain.check_size(command, settings.cluster_min_units, settings.cluster_max_units)
    organizer = await scope.require_acting_on(command.organizer_unit_id,
                                              field="organizer_unit_id")
    inside = await scope.directory.units_inside(command.member_unit_ids,
                                                command.organizer_unit_id, command.starts)
    outside = [u for u in command.member_unit_ids if u not in inside]
    if outside:
        raise domain.NotUnderOrganizer(outside, command.organizer_unit_id, command.starts)
    data = domain.cluster_formed(command, datetime.now(UTC), scope.actor)

    async def work(conn) -> bytes:
        event = runtime.envelopes.for_command(data, district=organizer.district_id,
                                              correlation_id=request.state.correlation_id,
                                              subject=data.cluster_id)
        await repository.record_cluster(conn, event)
        log.info("cluster_formed", cluster_id=data.cluster_id,
                 organizer_unit_id=data.organizer_unit_id, units=len(data.member_unit_ids),
                 event_id=event.id)
        return to_json(ClusterFormedAnswer(cluster_id=data.cluster_id, event_id=event.id,
                                           correlation_id=event.correlationid))

    return await command_runs.run(
        request.app.state.runtime.pool, idempotency_key,
        idempotency.fingerprint("POST", "/clusters", command,
                                caller=scope.caller.subject),
        201, work)


@router.get("/clusters", response_model=ClusterPage,
            responses=problem_responses(401, 403, 422, 503))
async def list_clusters(
    request: Request, scope: Annotated[Scope, Depends(CLUSTER_READERS)],
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    organizer_unit_id: Annotated[Identifier | None, Query()] = None,
    unit_id: Annotated[Identifier | None, Query(description="Clusters holding this unit.")] = None,
    cursor: Cursor = None, limit: Limit = 100,
) -> ClusterPage:
    """The clusters the caller sees, by id, filtered by `year`, `organizer_unit_id`, `unit_id`."""
    after = decode_cursor(cursor)
    if after is None:
        raise BadCursor()
    items = await repository.page(request.app.state.runtime.pool, year=year,
                                  organizer=organizer_unit_id, unit=unit_id,
                                  among=await visible_organizers(scope), after=after,
                                  limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return ClusterPage(items=[ClusterView.model_validate(i) for i in items],
                       next_cursor=encode_cursor(items[-1]["cluster_id"]) if more else None)


@router.get("/clusters/{cluster_id}", response_model=ClusterView,
            responses=problem_responses(401, 403, 404, 422, 503))
async def get_cluster(cluster_id: Identifier, request: Request,
                      scope: Annotated[Scope, Depends(CLUSTER_READERS)]) -> ClusterView:
    found = await repository.find(request.app.state.runtime.pool, cluster_id)
    among = await visible_organizers(scope)
    if found is None or (among is not None and found["organizer_unit_id"] not in among):
        raise domain.ClusterNotFound(cluster_id)
    return ClusterView.model_validate(found)

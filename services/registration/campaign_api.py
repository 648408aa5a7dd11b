"""Campaigns over HTTP: launched by a unit for the units below it, listed and read by those it
reaches and those above."""

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
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import campaign_domain as domain
from . import campaign_repository as repository
from .answers import to_json
from .org_queries import BadCursor, Cursor, Limit
from .org_repository import decode_cursor, encode_cursor
from .phase_gate import visible_organizers

log = structlog.get_logger()
router = APIRouter(tags=["campaigns"])

LAUNCHERS = Rule(
    "launch-campaign", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL},
    writes=True,
    summary="An official for a unit in their subtree as the tree stands today (the city "
            "federation's for the whole city, a ward or sector union's for its units, a "
            "grassroots union's for its own); a city administrator anywhere.",
)
CAMPAIGN_READERS = Rule(
    "read-campaign", ALL_ROLES,
    summary="Anyone whose subtree holds the organiser, or whose unit lies under it (a campaign "
            "reaches down); a member, the campaigns reaching their unit; city-wide roles all.",
)


class CampaignLaunchedAnswer(BaseModel):
    campaign_id: str
    event_id: str = Field(description="Id of the `thidua.campaign.launched.v1` event.")
    correlation_id: str


class PhaseView(BaseModel):
    phase_id: str
    name: str
    starts_on: date
    ends_on: date
    kind: str
    theme: str | None
    occasion: str | None
    status: str = Field(description="`open`, or `closed` once closed.")
    closed_at: datetime | None
    closed_by: Actor | None
    close_event_id: str | None
    accepted_counts: dict[str, int] | None = Field(
        description="The close's counts per event type (see `thidua.phase.closed.v1`).")


class CampaignView(BaseModel):
    campaign_id: str
    organizer_unit_id: str
    year: int
    theme: str
    movements: list[str]
    phases: list[PhaseView]
    scoring: dict[str, Any]
    awards: dict[str, Any]
    launched_at: datetime
    event_id: str
    launched_by: Actor


class CampaignPage(BaseModel):
    items: list[CampaignView]
    next_cursor: str | None


@router.post("/campaigns", status_code=status.HTTP_201_CREATED,
             response_model=CampaignLaunchedAnswer,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def launch_campaign(command: domain.LaunchCampaign, request: Request,
                          scope: Annotated[Scope, Depends(LAUNCHERS)],
                          idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Launch a campaign with its phases and rule sets for the units under the organiser;
    emits `thidua.campaign.launched.v1` (key: the campaign id). Safe to retry with an
    `Idempotency-Key` or a chosen `campaign_id` (then 409 `campaign_exists`)."""
    runtime = request.app.state.runtime
    unit = await scope.require_acting_on(command.organizer_unit_id, field="organizer_unit_id")
    if unit.status != "active":
        raise domain.OrganizerNotActive(unit.unit_id)
    data = domain.campaign_launched(command, datetime.now(UTC), scope.actor)

    async def work(conn) -> bytes:
        event = runtime.envelopes.for_command(data, district=unit.district_id,
                                              correlation_id=request.state.correlation_id,
                                              subject=data.campaign_id)
        await repository.record_launch(conn, event)
        log.info("campaign_launched", campaign_id=data.campaign_id,
                 organizer_unit_id=data.organizer_unit_id, event_id=event.id)
        return to_json(CampaignLaunchedAnswer(campaign_id=data.campaign_id, event_id=event.id,
                                              correlation_id=event.correlationid))

    return await command_runs.run(
        request.app.state.runtime.pool, idempotency_key,
        idempotency.fingerprint("POST", "/campaigns", command,
                                caller=scope.caller.subject),
        201, work)


@router.get("/campaigns", response_model=CampaignPage,
            responses=problem_responses(401, 403, 422, 503))
async def list_campaigns(
    request: Request, scope: Annotated[Scope, Depends(CAMPAIGN_READERS)],
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    organizer_unit_id: Annotated[Identifier | None, Query()] = None,
    cursor: Cursor = None, limit: Limit = 100,
) -> CampaignPage:
    """The campaigns the caller sees, by id, filtered by `year` and `organizer_unit_id`."""
    after = decode_cursor(cursor)
    if after is None:
        raise BadCursor()
    items = await repository.page(request.app.state.runtime.pool, year=year,
                                  organizer=organizer_unit_id,
                                  among=await visible_organizers(scope), after=after,
                                  limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return CampaignPage(items=[CampaignView.model_validate(i) for i in items],
                        next_cursor=encode_cursor(items[-1]["campaign_id"]) if more else None)


@router.get("/campaigns/{campaign_id}", response_model=CampaignView,
            responses=problem_responses(401, 403, 404, 422, 503))
async def get_campaign(campaign_id: Identifier, request: Request,
                       scope: Annotated[Scope, Depends(CAMPAIGN_READERS)]) -> CampaignView:
    found = await repository.find(request.app.state.runtime.pool, campaign_id)
    among = await visible_organizers(scope)
    if found is None or (among is not None and found["organizer_unit_id"] not in among):
        raise domain.CampaignNotFound(campaign_id)
    return CampaignView.model_validate(found)

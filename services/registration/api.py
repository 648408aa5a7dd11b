"""Registration's HTTP commands and queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import structlog
from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from contracts import new_event
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import domain, repository

log = structlog.get_logger()
router = APIRouter(tags=["initiatives"])
SOURCE = "/thidua/registration"  # the CloudEvents source of everything registration emits


class InitiativeAccepted(BaseModel):
    initiative_id: str
    event_id: str = Field(description="Id of the `thidua.initiative.submitted.v1` event.")
    correlation_id: str = Field(description="Carried by every event this submission causes.")
    status: Literal["submitted"]


class Author(BaseModel):
    member_id: str
    full_name: str
    direct_worker: bool


class Initiative(BaseModel):
    """An initiative as stored."""

    initiative_id: str
    campaign_id: str
    phase_id: str
    unit_id: str
    district: str
    title: str
    field: str
    authors: list[Author]
    claimed_benefit_vnd: int
    status: str
    submitted_at: datetime
    event_id: str
    correlation_id: str


@router.post("/initiatives", status_code=status.HTTP_202_ACCEPTED,
             responses=problem_responses(409, 413, 422, 503))
async def submit_initiative(command: domain.SubmitInitiative, request: Request) -> InitiativeAccepted:
    """Accept an initiative; scoring, awards and notify learn of it from its event."""
    runtime = request.app.state.runtime
    data = domain.initiative_submitted(command, datetime.now(UTC))
    event = new_event(
        data,
        source=SOURCE,
        district=command.district,
        correlation_id=request.state.correlation_id,
        subject=data.initiative_id,
    )
    await repository.record_initiative(runtime.pool, event)
    log.info("initiative_submitted", initiative_id=data.initiative_id, unit_id=data.unit_id,
             event_id=event.id)
    return InitiativeAccepted(initiative_id=data.initiative_id, event_id=event.id,
                              correlation_id=event.correlationid, status="submitted")


@router.get("/initiatives/{initiative_id}", responses=problem_responses(404, 422, 503))
async def get_initiative(initiative_id: Identifier, request: Request) -> Initiative:
    found = await repository.find_initiative(request.app.state.runtime.pool, initiative_id)
    if found is None:
        raise domain.InitiativeNotFound(initiative_id)
    return Initiative.model_validate(found)

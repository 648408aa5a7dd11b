"""Registration's HTTP commands and queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import structlog
from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from services.runtime import idempotency
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import domain, repository

log = structlog.get_logger()
router = APIRouter(tags=["initiatives"])


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
             response_model=InitiativeAccepted, responses=problem_responses(409, 413, 422, 503))
async def submit_initiative(
    command: domain.SubmitInitiative, request: Request,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """Accept an initiative; scoring, awards and notify learn of it from its event.

    Safe to retry: with an `Idempotency-Key`, or with a client-chosen `initiative_id` (a
    repeat then answers 409 `initiative_exists`).
    """
    data = domain.initiative_submitted(command, datetime.now(UTC))
    runtime = request.app.state.runtime
    event = runtime.envelopes.for_command(data, district=command.district,
                                          correlation_id=request.state.correlation_id,
                                          subject=data.initiative_id)
    accepted = InitiativeAccepted(initiative_id=data.initiative_id, event_id=event.id,
                                  correlation_id=event.correlationid, status="submitted")
    # The bytes sent now are the bytes kept, so a replay is identical.
    body = accepted.__pydantic_serializer__.to_json(accepted)
    answer = None
    if idempotency_key is not None:
        fingerprint = idempotency.fingerprint("POST", "/initiatives", command)
        answer = idempotency.KeptAnswer(idempotency_key, fingerprint, 202, body)
    kept = await repository.record_initiative(runtime.pool, event, answer)
    if kept is not None:
        return idempotency.replay(kept, answer.fingerprint)
    log.info("initiative_submitted", initiative_id=data.initiative_id, unit_id=data.unit_id,
             event_id=event.id)
    return Response(body, status_code=202, media_type="application/json")


@router.get("/initiatives/{initiative_id}", responses=problem_responses(404, 422, 503))
async def get_initiative(initiative_id: Identifier, request: Request) -> Initiative:
    found = await repository.find_initiative(request.app.state.runtime.pool, initiative_id)
    if found is None:
        raise domain.InitiativeNotFound(initiative_id)
    return Initiative.model_validate(found)

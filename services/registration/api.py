"""Registration's HTTP commands and queries."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Request, status

from contracts import new_event
from services.runtime.errors import NotFound

from . import domain, repository

log = structlog.get_logger()
router = APIRouter(tags=["initiatives"])
SOURCE = "/thidua/registration"  # the CloudEvents source of everything registration emits


@router.post("/initiatives", status_code=status.HTTP_202_ACCEPTED)
async def submit_initiative(command: domain.SubmitInitiative, request: Request) -> dict:
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
    return {"initiative_id": data.initiative_id, "event_id": event.id,
            "correlation_id": event.correlationid, "status": "submitted"}


@router.get("/initiatives/{initiative_id}")
async def get_initiative(initiative_id: str, request: Request) -> dict:
    found = await repository.find_initiative(request.app.state.runtime.pool, initiative_id)
    if found is None:
        raise NotFound("initiative_not_found", f"no initiative {initiative_id}", "initiative_id")
    return found

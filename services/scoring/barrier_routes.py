"""The operators' view of a phase's close barrier and the events that came after it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.runtime.access import Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import queries
from .query_params import Limit

router = APIRouter(tags=["scores"])

PHASE_READERS = Rule(
    "read-phase-barrier", {Role.CITY_ADMIN, Role.AUDITOR},
    summary="The city administrator and auditors: the barrier and its late events are the "
            "operators' view of every campaign.",
)


class PhaseBarrierView(BaseModel):
    campaign_id: str
    phase_id: str
    closed_at: datetime | None
    finalized_at: datetime | None
    accepted_counts: dict[str, int] = Field(description="From the close, per event type.")
    applied_counts: dict[str, int] = Field(description="Applied by scoring, per event type.")
    score_changed_count: int
    late_events: int


class LateEvent(BaseModel):
    event_id: str
    event_type: str
    unit_id: str | None
    received_at: datetime


class LateEvents(BaseModel):
    late_events: list[LateEvent]
    next_after: str | None


@router.get("/campaigns/{campaign_id}/phases/{phase_id}/barrier",
            responses=problem_responses(401, 403, 404, 422, 503))
async def phase_barrier(
    campaign_id: Identifier, phase_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(PHASE_READERS)],
) -> PhaseBarrierView:
    """Where the phase stands at the close barrier: the close's accepted counts against the
    events scoring applied, when it was finalized, and how many events came late (all empty
    for a phase scoring has seen nothing of)."""
    pool = request.app.state.runtime.pool
    row = await queries.phase_barrier(pool, campaign_id, phase_id) or {}
    counts = json.loads(row.get("counts") or "{}")
    score_changes = int(counts.pop("emitted:thidua.score.changed.v1", 0))
    return PhaseBarrierView(
        campaign_id=campaign_id, phase_id=phase_id, closed_at=row.get("closed_at"),
        finalized_at=row.get("finalized_at"),
        accepted_counts=json.loads(row.get("accepted_counts") or "{}"),
        applied_counts={k: int(v) for k, v in counts.items()},
        score_changed_count=score_changes, late_events=row.get("late_events", 0),
    )


@router.get("/campaigns/{campaign_id}/phases/{phase_id}/late-events",
            responses=problem_responses(401, 403, 404, 422, 503))
async def phase_late_events(
    campaign_id: Identifier, phase_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(PHASE_READERS)],
    after: Annotated[str, Query(max_length=200, pattern=r"^[^\x00]*$",
                                description="Cursor: the last `event_id` seen.")] = "",
    limit: Limit = 100,
) -> LateEvents:
    """Events of the phase that arrived after its standings were finalized: kept, not
    applied."""
    pool = request.app.state.runtime.pool
    rows = await queries.late_events(pool, campaign_id, phase_id, after, limit + 1)
    page = [LateEvent.model_validate(r) for r in rows[:limit]]
    return LateEvents(late_events=page,
                      next_after=page[-1].event_id if len(rows) > limit else None)

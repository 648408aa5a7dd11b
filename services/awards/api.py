"""Awards' HTTP queries."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from contracts.events.common import Level, SubjectKind, Title
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import repository

router = APIRouter(tags=["eligibility"])


class TitleEligibility(BaseModel):
    """Whether a subject qualifies for a title at a level in one campaign phase, and why."""

    campaign_id: str
    phase_id: str
    title: Title
    level: Level
    eligible: bool
    reason: str
    updated_at: datetime


@router.get("/eligibility/{subject_kind}/{subject_id}", responses=problem_responses(422, 503))
async def subject_eligibility(
    subject_kind: SubjectKind, subject_id: Identifier, request: Request
) -> list[TitleEligibility]:
    rows = await repository.eligibility_of(request.app.state.runtime.pool, subject_kind, subject_id)
    return [TitleEligibility.model_validate(row) for row in rows]

"""Awards' HTTP queries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from contracts.events.common import Level, SubjectKind, Title
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import repository

router = APIRouter(tags=["eligibility"])

READERS = Rule(
    "read-eligibility", ALL_ROLES,
    summary="For a unit: anyone whose subtree holds it as the tree stands today. For a "
            "member: the member themself, or anyone whose subtree holds the member's unit.",
)


class TitleEligibility(BaseModel):
    """Whether a subject qualifies for a title at a level in one campaign phase, and why."""

    campaign_id: str
    phase_id: str
    title: Title
    level: Level
    eligible: bool
    reason: str
    updated_at: datetime


@router.get("/eligibility/{subject_kind}/{subject_id}",
            responses=problem_responses(401, 403, 404, 422, 503))
async def subject_eligibility(
    subject_kind: SubjectKind, subject_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(READERS)],
) -> list[TitleEligibility]:
    """Each title the subject is considered for, whether it qualifies and why."""
    if subject_kind == "unit":
        await scope.require_unit(subject_id, members=())
    else:
        await scope.require_member(subject_id)
    rows = await repository.eligibility_of(request.app.state.runtime.pool, subject_kind, subject_id)
    return [TitleEligibility.model_validate(row) for row in rows]

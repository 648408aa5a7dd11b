"""Scoring's HTTP queries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from contracts.events.common import Points, SubjectKind
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import repository

router = APIRouter(tags=["scores"])

UNIT_READERS = Rule(
    "read-unit-scores", ALL_ROLES - {Role.MEMBER},
    summary="Officials, council reviewers and integrators whose subtree holds the unit as the "
            "tree stands today; auditors and the city administrator everywhere.",
)


class SubjectScore(BaseModel):
    """A unit's or member's running total in one campaign phase."""

    campaign_id: str
    phase_id: str
    subject_kind: SubjectKind
    subject_id: str
    total_points: Points = Field(description="Exact decimal points, as a string such as `12.5`.")


@router.get("/units/{unit_id}/scores", responses=problem_responses(401, 403, 404, 422, 503))
async def unit_scores(unit_id: Identifier, request: Request,
                      scope: Annotated[Scope, Depends(UNIT_READERS)]) -> list[SubjectScore]:
    """Totals of the unit and of its members, per campaign and phase."""
    await scope.require_unit(unit_id)
    rows = await repository.scores_of_unit(request.app.state.runtime.pool, unit_id)
    return [SubjectScore.model_validate(row) for row in rows]

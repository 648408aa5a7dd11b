"""Awards' HTTP queries."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from contracts.events.common import Level, Points, SubjectKind, Title
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import domain, facts_repository, repository

router = APIRouter(tags=["eligibility"])

READERS = Rule(
    "read-eligibility", ALL_ROLES,
    summary="For a unit: anyone whose subtree holds it as the tree stands today. For a "
            "member: the member themself, or anyone whose subtree holds the member's unit.",
)


PATH_READERS = Rule(
    "read-path-to-titles", ALL_ROLES,
    summary="The member themself, or anyone whose subtree holds the member's unit.",
)


class CriterionStatus(BaseModel):
    """One criterion of a title against the subject's latest standing."""

    criterion: str = Field(description="`min_points` or `min_accepted_initiatives`.")
    required: Points = Field(description="What the title's rule asks.")
    actual: Points = Field(description="What the subject has.")
    met: bool
    short_by: Points = Field(description="How much is missing; 0 when met.")
    text: str = Field(description='In words, e.g. "12 points short (8 of 20)".')


class TitleEligibility(BaseModel):
    """Whether a subject qualifies for a title at a level in one campaign phase, and why."""

    campaign_id: str
    phase_id: str
    title: Title
    level: Level
    eligible: bool = Field(description="The verdict last announced.")
    reason: str
    updated_at: datetime = Field(description="When the verdict was last announced.")
    provisional: bool = Field(
        True, description="True while the phase's standings are not final: the verdict may "
        "still change, and quotas are applied on proposal.")
    criteria: list[CriterionStatus] = Field(
        default_factory=list,
        description="Each criterion against the latest standing: met, or how far short.")


class TitlePath(BaseModel):
    """What remains between a member and one title in one campaign phase."""

    campaign_id: str
    phase_id: str
    title: Title
    level: Level = Field(description="The level evaluated: the title's lowest.")
    eligible: bool | None = Field(
        description="Provisional verdict; null for a title not decided from scores.")
    remaining: list[str] = Field(
        description="The unmet criteria in words (empty when eligible), or why scores do not "
        "decide the title.")
    criteria: list[CriterionStatus]


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


@router.get("/members/{member_id}/path-to-titles",
            responses=problem_responses(401, 403, 404, 422, 503))
async def path_to_titles(
    member_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(PATH_READERS)],
) -> list[TitlePath]:
    """For each campaign phase the member has a score in, each member title of the campaign's
    rule set: what remains."""
    await scope.require_member(member_id)
    pool = request.app.state.runtime.pool
    rows = await repository.eligibility_of(pool, "member", member_id)
    rule_sets = await facts_repository.rule_sets(pool, {r["campaign_id"] for r in rows})
    paths = []
    for campaign_id in dict.fromkeys(r["campaign_id"] for r in rows):
        mine = [r for r in rows if r["campaign_id"] == campaign_id]
        paths += domain.path_to_titles(mine, "member",
                                       rule_sets.get(campaign_id, domain.DEFAULT_RULES))
    return [TitlePath.model_validate(asdict(path)) for path in paths]

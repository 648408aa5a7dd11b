"""Initiative totals: what the field reports count, per unit, district, campaign or year."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import queries
from .query_params import Limit

router = APIRouter(tags=["scores"])

TOTALS_READERS = Rule(
    "read-initiative-totals", ALL_ROLES - {Role.MEMBER},
    summary="Totals over the units inside the caller's subtree as the tree stands today; "
            "auditors and the city administrator over every unit.",
)


class InitiativeTotal(BaseModel):
    key: str = Field(description="The unit, district, campaign or year.")
    submitted: int
    accepted: int
    recognised_benefit_vnd: int
    claimed_benefit_vnd: int


class InitiativeTotals(BaseModel):
    group_by: str
    totals: list[InitiativeTotal]
    next_after: str | None


@router.get("/initiative-totals", responses=problem_responses(401, 403, 422, 503))
async def initiative_totals(
    request: Request, scope: Annotated[Scope, Depends(TOTALS_READERS)],
    group_by: Literal["unit", "district", "campaign", "year"] = "unit",
    campaign_id: Identifier | None = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    after: Annotated[str, Query(max_length=64, pattern=r"^[^\x00]*$",
                                description="Cursor: the last `key` seen.")] = "",
    limit: Limit = 100,
) -> InitiativeTotals:
    """Initiatives submitted and accepted and the benefit recognised (VND) — the figures the
    field reports give — per unit, district, campaign or year, over the caller's units."""
    pool = request.app.state.runtime.pool
    units = None
    if not scope.caller.city_wide:
        candidates = await queries.units_with_initiatives(pool, campaign_id)
        units = list(await scope.visible(candidates, lambda u: u))
    rows = await queries.initiative_totals(pool, group_by, campaign_id, year, units, after,
                                           limit + 1)
    page = [InitiativeTotal.model_validate(r) for r in rows[:limit]]
    return InitiativeTotals(group_by=group_by, totals=page,
                            next_after=page[-1].key if len(rows) > limit else None)

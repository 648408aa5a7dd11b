"""The directory over HTTP, in every service: a unit on a date as this service's projection
has it. Officials check what a service knows of the tree; tests and the demo wait on it."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from contracts.events.common import Sector, UnitKind

from ..access import ALL_ROLES, Rule, Scope, UnitNotFound
from ..caller import Role
from ..identifiers import Identifier
from ..problems import problem_responses

READERS = Rule(
    "read-directory", ALL_ROLES - {Role.MEMBER},
    summary="Anyone whose subtree holds the unit today, or held it on `as_of` (so a dissolved "
            "federation's officials still read their former units' history); city-wide roles "
            "everywhere.",
)

router = APIRouter(tags=["directory"])


class UnitState(BaseModel):
    """A unit as it stood from `effective_from` on: what every service's directory reads."""

    unit_id: str
    name: str
    kind: UnitKind
    parent_id: str | None
    district_id: str | None
    sector: Sector
    member_count: int
    direct_worker_count: int
    status: str = Field(description="`active`, or `dissolved` from `effective_from` on.")
    effective_from: date = Field(description="Since when this state holds.")


class UnitView(UnitState):
    """A unit's state on a date, with the chain of units above it."""

    as_of: date
    ancestors: list[str] = Field(description="The unit, its parent, and so on up to the root.")


@router.get("/directory/units/{unit_id}", responses=problem_responses(401, 403, 404, 422, 503))
async def unit_on(
    unit_id: Identifier,
    scope: Annotated[Scope, Depends(READERS)],
    as_of: Annotated[date | None, Query(description="The date to read the tree on (Vietnamese "
                                                    "calendar); today when absent.")] = None,
) -> UnitView:
    day = as_of or scope.today
    await scope.require_unit(unit_id, on=day)
    unit = await scope.directory.unit(unit_id, day)
    ancestors = await scope.directory.ancestors(unit_id, day)
    if unit is None or ancestors is None:
        raise UnitNotFound(unit_id)
    return UnitView(
        unit_id=unit.unit_id, name=unit.name, kind=unit.kind, parent_id=unit.parent_id,
        district_id=unit.district_id, sector=unit.sector, member_count=unit.member_count,
        direct_worker_count=unit.direct_worker_count, status=unit.status,
        effective_from=unit.effective_from, as_of=day, ancestors=list(ancestors))

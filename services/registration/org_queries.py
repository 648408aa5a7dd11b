"""The org directory read over HTTP: a unit on any date with its ancestors, and the units and
members under it, a page at a time, checked against registration's own tables."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.runtime.access import ALL_ROLES, Rule, Scope, UnitNotFound
from services.runtime.caller import Role
from services.runtime.directory.routes import UnitState
from services.runtime.domain_errors import Invalid
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import org_repository as repository

router = APIRouter(tags=["org directory"])

READERS = Rule(
    "read-org", ALL_ROLES - {Role.MEMBER},
    summary="Anyone whose subtree holds the unit today, or held it on `as_of`; city-wide roles "
            "everywhere.",
)

AsOf = Annotated[date | None, Query(description="The date to read the tree on (Vietnamese "
                                                "calendar); today when absent.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=200,
                                     description="`next_cursor` of the previous page.")]


class UnitView(UnitState):
    as_of: date
    ancestors: list[str] = Field(description="The unit, its parent, and so on up to the root, "
                                             "as of the date.")


class MemberState(BaseModel):
    member_id: str
    unit_id: str
    full_name: str
    gender: str
    direct_worker: bool
    union_officer: bool
    job_title: str | None
    status: str = Field(description="`active`, or `left` from `effective_from` on.")
    effective_from: date


class UnitPage(BaseModel):
    as_of: date
    items: list[UnitState]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at "
                                                "the end.")


class MemberPage(BaseModel):
    as_of: date
    items: list[MemberState]
    next_cursor: str | None


class BadCursor(Invalid):
    def __init__(self) -> None:
        super().__init__("cursor_invalid", "not a cursor this API gave", field="query.cursor")


def own_scope(scope: Scope, db) -> Scope:
    """The caller's scope checked against registration's own tables (synchronous truth)."""
    return Scope(scope.caller, repository.OrgTree(db), scope.today)  # type: ignore[arg-type]


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}


@router.get("/units/{unit_id}", responses=problem_responses(401, 403, 404, 422, 503))
async def get_unit(unit_id: Identifier, request: Request,
                   scope: Annotated[Scope, Depends(READERS)], as_of: AsOf = None) -> UnitView:
    """The unit's state on `as_of` (today when absent) with its ancestors then."""
    day = as_of or scope.today
    pool = request.app.state.runtime.pool
    tree = repository.OrgTree(pool)
    await own_scope(scope, pool).require_unit(unit_id, on=day)
    unit = await tree.unit(unit_id, day)
    ancestors = await tree.ancestors(unit_id, day)
    if unit is None or ancestors is None:
        raise UnitNotFound(unit_id)
    return UnitView(**_fields(unit), as_of=day, ancestors=list(ancestors))


async def _listing(request: Request, scope: Scope, unit_id: str, day: date,
                   cursor: str | None) -> tuple[repository.OrgTree, str]:
    """What a page under a unit starts from: the tree, once the cursor and the unit are good."""
    after = repository.decode_cursor(cursor)
    if after is None:
        raise BadCursor()
    pool = request.app.state.runtime.pool
    tree = repository.OrgTree(pool)
    await own_scope(scope, pool).require_unit(unit_id, on=day)
    if await tree.unit(unit_id, day) is None:
        raise UnitNotFound(unit_id)
    return tree, after


@router.get("/units/{unit_id}/children", responses=problem_responses(401, 403, 404, 422, 503))
async def get_children(unit_id: Identifier, request: Request,
                       scope: Annotated[Scope, Depends(READERS)], as_of: AsOf = None,
                       cursor: Cursor = None, limit: Limit = 100) -> UnitPage:
    """The units whose parent on `as_of` is the unit, by id, a page at a time."""
    day = as_of or scope.today
    tree, after = await _listing(request, scope, unit_id, day, cursor)
    rows = await tree.children(unit_id, day, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return UnitPage(as_of=day, items=[UnitState(**_fields(r)) for r in rows],
                    next_cursor=repository.encode_cursor(rows[-1].unit_id) if more else None)


@router.get("/units/{unit_id}/members", responses=problem_responses(401, 403, 404, 422, 503))
async def get_members(unit_id: Identifier, request: Request,
                      scope: Annotated[Scope, Depends(READERS)], as_of: AsOf = None,
                      cursor: Cursor = None, limit: Limit = 100) -> MemberPage:
    """The members whose state on `as_of` places them in the unit, by id, a page at a time."""
    day = as_of or scope.today
    tree, after = await _listing(request, scope, unit_id, day, cursor)
    rows = await tree.members_of(unit_id, day, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return MemberPage(as_of=day, items=[MemberState(**_fields(r)) for r in rows],
                      next_cursor=repository.encode_cursor(rows[-1].member_id) if more else None)

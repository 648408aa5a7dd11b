"""Downloads of the directory and of initiatives as CSV or .xlsx (`exports.py`), limited to
the caller's subtree. The units and members files have the import's columns, so a file
exported here imports back as it is (and, into the same directory, changes nothing)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import exports
from .import_rows import MEMBER_COLUMNS, UNIT_COLUMNS
from .org_queries import own_scope
from .org_repository import MAX_DEPTH

router = APIRouter(tags=["exports"])

EXPORTERS = Rule(
    "export-lists", ALL_ROLES - {Role.MEMBER},
    summary="Anyone whose subtree holds the unit exported from (by default their own unit); "
            "city-wide roles everything.",
)

Format = Annotated[exports.ExportFormat, Query(description="`csv` (UTF-8) or `xlsx`.")]
AsOf = Annotated[date | None, Query(description="The date the directory is read on; today "
                                                "when absent.")]
Under = Annotated[Identifier | None, Query(
    description="Export this unit and its subtree; by default the caller's unit (everything "
                "for city-wide roles).")]
_FILE = {"schema": {"type": "string", "format": "binary"}}
_DOWNLOAD = {200: {"content": {exports.MEDIA_TYPES["csv"]: _FILE,
                               exports.MEDIA_TYPES["xlsx"]: _FILE},
                   "description": "The file, streamed."}}

# The units in the subtree of $1 on $2, or every unit on $2 when $1 is null.
_SUBTREE = f"""
    WITH RECURSIVE down (unit_id, depth) AS (
        SELECT unit_id, 0 FROM unit_states
        WHERE ($1::text IS NULL OR unit_id = $1) AND valid @> $2::date
        UNION
        SELECT s.unit_id, d.depth + 1 FROM down d
        JOIN unit_states s ON s.parent_id = d.unit_id AND s.valid @> $2::date
        WHERE $1::text IS NOT NULL AND d.depth < {MAX_DEPTH}
    )"""
_UNITS = _SUBTREE + """
    SELECT s.unit_id, s.name, s.kind, s.parent_id, s.effective_from, s.district_id, s.sector,
           s.member_count, s.direct_worker_count
    FROM unit_states s JOIN (SELECT DISTINCT unit_id FROM down) d USING (unit_id)
    WHERE s.valid @> $2::date AND s.status = 'active'
    ORDER BY s.unit_id"""
_MEMBERS = _SUBTREE + """
    SELECT m.member_id, m.unit_id, m.full_name, m.gender, m.direct_worker, m.union_officer,
           m.job_title, m.effective_from
    FROM member_states m JOIN (SELECT DISTINCT unit_id FROM down) d USING (unit_id)
    WHERE m.valid @> $2::date AND m.status = 'active'
    ORDER BY m.member_id"""
INITIATIVE_COLUMNS = ("initiative_id", "campaign_id", "phase_id", "unit_id", "title", "field",
                      "authors", "claimed_benefit_vnd", "status", "submitted_at",
                      "review_levels", "recognised_benefit_vnd")
_INITIATIVES = _SUBTREE + """
    SELECT i.initiative_id, i.campaign_id, i.phase_id, i.unit_id, i.title, i.field,
           (SELECT string_agg(a->>'full_name', '; ' ORDER BY n)
            FROM jsonb_array_elements(i.authors) WITH ORDINALITY AS x(a, n)) AS authors,
           i.claimed_benefit_vnd, i.status, i.submitted_at,
           (SELECT string_agg(r.level || ':' || r.outcome, '; ' ORDER BY r.reviewed_at)
            FROM initiative_reviews r WHERE r.initiative_id = i.initiative_id),
           (SELECT r.recognised_benefit_vnd FROM initiative_reviews r
            WHERE r.initiative_id = i.initiative_id AND r.outcome = 'accepted'
            ORDER BY r.reviewed_at DESC LIMIT 1)
    FROM initiatives i
    WHERE ($1::text IS NULL OR i.unit_id IN (SELECT unit_id FROM down))
      AND ($3::text IS NULL OR i.campaign_id = $3)
    ORDER BY i.submitted_at, i.initiative_id"""


async def _root(request: Request, scope: Scope, unit_id: str | None, day: date) -> str | None:
    """The unit to export from, checked against the caller's scope (None: every unit)."""
    c = scope.caller
    root = unit_id or (None if c.city_wide else c.unit_id)
    if root is not None:
        await own_scope(scope, request.app.state.runtime.pool).require_unit(root, on=day)
    return root


@router.get("/exports/units", response_class=StreamingResponse, responses={
    **_DOWNLOAD, **problem_responses(401, 403, 404, 422, 503)})
async def export_units(request: Request, scope: Annotated[Scope, Depends(EXPORTERS)],
                       format: Format = "csv", as_of: AsOf = None,
                       unit_id: Under = None) -> StreamingResponse:
    """The active units of the subtree on `as_of`, with the columns of a units import."""
    day = as_of or scope.today
    root = await _root(request, scope, unit_id, day)
    rows = exports.stream_query(request.app.state.runtime.pool, _UNITS, root, day)
    return exports.tabular_response(rows, [c.name for c in UNIT_COLUMNS], format,
                                    f"units-{day.isoformat()}")


@router.get("/exports/members", response_class=StreamingResponse, responses={
    **_DOWNLOAD, **problem_responses(401, 403, 404, 422, 503)})
async def export_members(request: Request, scope: Annotated[Scope, Depends(EXPORTERS)],
                         format: Format = "csv", as_of: AsOf = None,
                         unit_id: Under = None) -> StreamingResponse:
    """The active members of the subtree's units on `as_of`, with the columns of a members
    import."""
    day = as_of or scope.today
    root = await _root(request, scope, unit_id, day)
    rows = exports.stream_query(request.app.state.runtime.pool, _MEMBERS, root, day)
    return exports.tabular_response(rows, [c.name for c in MEMBER_COLUMNS], format,
                                    f"members-{day.isoformat()}")


@router.get("/exports/initiatives", response_class=StreamingResponse, responses={
    **_DOWNLOAD, **problem_responses(401, 403, 404, 422, 503)})
async def export_initiatives(
        request: Request, scope: Annotated[Scope, Depends(EXPORTERS)], format: Format = "csv",
        unit_id: Under = None,
        campaign_id: Annotated[Identifier | None, Query(description="Only this campaign.")] = None,
) -> StreamingResponse:
    """Initiatives submitted by units of the subtree (as it stands today), oldest first, with
    their authors, review levels and the latest recognised benefit."""
    root = await _root(request, scope, unit_id, scope.today)
    rows = exports.stream_query(request.app.state.runtime.pool, _INITIATIVES, root,
                                scope.today, campaign_id)
    return exports.tabular_response(rows, INITIATIVE_COLUMNS, format, "initiatives")

"""Award decisions over HTTP: list and read them, export them for the national commendation
database (CSV or .xlsx), and the statistics of awards (by district, title and level; the
pyramid of each title)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from contracts.events.common import LEVELS, Level, Title
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import decision_queries as queries
from .proposal_queries import decode_cursor, encode_cursor
from .table_files import CSV, XLSX, csv_bytes, xlsx_bytes
from .visibility import visible_units

router = APIRouter(tags=["decisions"])

READERS = Rule(
    "read-decisions", ALL_ROLES - {Role.MEMBER},
    summary="Officials, reviewers and integrators: decisions issued in their subtree or "
            "granting to a unit in it (and only those recipients in exports and statistics); "
            "city-wide roles everywhere. Members see their awards in the events and proposals.")
EXPORT_LIMIT = 500_000

Year = Annotated[int | None, Query(ge=1975, le=2100,
                                   description="The award year; this year when absent.")]


class Recipient(BaseModel):
    award_id: str
    proposal_id: str | None
    title: Title
    level: Level
    subject_kind: str
    subject_id: str
    subject_name: str
    unit_id: str
    cash_amount_vnd: int


class DecisionView(BaseModel):
    decision_id: str
    decision_number: str
    issuer_unit_id: str
    issuer_name: str
    year: int
    decision_date: date
    signatory: str
    recipient_count: int
    total_cash_vnd: int
    recorded_at: datetime
    recipients: list[Recipient] | None = Field(None, description="In `GET /decisions/{id}`.")


class DecisionPage(BaseModel):
    items: list[DecisionView]
    next_cursor: str | None


class AwardCount(BaseModel):
    district_id: str = Field(description="The recipient unit's district ('' when none).")
    title: Title
    level: Level
    awards: int
    cash_vnd: int


class PyramidStep(BaseModel):
    title: Title
    level: Level
    within_quota: int
    beyond_quota: int
    excluded: int
    approved: int
    rejected: int


class Statistics(BaseModel):
    year: int
    awards: list[AwardCount]
    pyramid: list[PyramidStep] = Field(description="Per title, its levels lowest first.")


@router.get("/decisions", responses=problem_responses(401, 403, 422, 503))
async def list_decisions(
    request: Request, scope: Annotated[Scope, Depends(READERS)],
    year: Annotated[int | None, Query(ge=1975, le=2100)] = None,
    issuer_unit_id: Annotated[str | None, Query(max_length=100)] = None,
    title: Title | None = None, level: Level | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DecisionPage:
    """Decisions in the caller's scope, by id; filter by year, issuer, title and level."""
    rows = await queries.page(
        request.app.state.runtime.pool, await visible_units(scope),
        queries.DecisionFilters(year, issuer_unit_id, title, level), decode_cursor(cursor),
        limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return DecisionPage(items=[DecisionView.model_validate(r) for r in rows],
                        next_cursor=encode_cursor(rows[-1]["decision_id"]) if more else None)


@router.get("/decisions/export", responses={
    200: {"content": {CSV: {}, XLSX: {}}, "description": "One row per recipient."},
    **problem_responses(401, 403, 422, 503)})
async def export_decisions(
    request: Request, scope: Annotated[Scope, Depends(READERS)], year: Year = None,
    format: Literal["csv", "xlsx"] = "csv",
    issuer_unit_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Every recipient of the year's decisions in the caller's scope, one row each, in the
    documented columns (README: "Export of decisions")."""
    year = year or scope.today.year
    rows = await queries.export_rows(request.app.state.runtime.pool, await visible_units(scope),
                                     year, issuer_unit_id, EXPORT_LIMIT)
    name = f"quyet-dinh-khen-thuong-{year}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "xlsx":
        return Response(xlsx_bytes("decisions", queries.EXPORT_COLUMNS, rows), media_type=XLSX,
                        headers=headers)
    return Response(csv_bytes(queries.EXPORT_COLUMNS, rows), media_type=f"{CSV}; charset=utf-8",
                    headers=headers)


@router.get("/decisions/{decision_id}", responses=problem_responses(401, 403, 404, 422, 503))
async def get_decision(decision_id: Identifier, request: Request,
                       scope: Annotated[Scope, Depends(READERS)]) -> DecisionView:
    """A decision with its recipients."""
    row = await queries.one(request.app.state.runtime.pool, await visible_units(scope),
                            decision_id)
    return DecisionView.model_validate(row)


@router.get("/statistics/awards", responses=problem_responses(401, 403, 422, 503))
async def award_statistics(request: Request, scope: Annotated[Scope, Depends(READERS)],
                           year: Year = None) -> Statistics:
    """The seeds' figures for a year in the caller's scope: awards by district, title and
    level (with cash), and each title's pyramid from candidates to approvals."""
    year = year or scope.today.year
    found = await queries.statistics(request.app.state.runtime.pool,
                                     await visible_units(scope), year)
    rank = {level: i for i, level in enumerate(LEVELS)}
    pyramid = sorted(found["pyramid"], key=lambda r: (r["title"], rank[r["level"]]))
    return Statistics(year=year, awards=[AwardCount.model_validate(r) for r in found["awards"]],
                      pyramid=[PyramidStep.model_validate(r) for r in pyramid])

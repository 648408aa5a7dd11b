"""A subject's scores and why: a unit's totals, the ledger lines and the facts behind them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from contracts.events.common import Points, SubjectKind
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import queries
from .query_params import Limit

router = APIRouter(tags=["scores"])

UNIT_READERS = Rule(
    "read-unit-scores", ALL_ROLES - {Role.MEMBER},
    summary="Officials, council reviewers and integrators whose subtree holds the unit as the "
            "tree stands today; auditors and the city administrator everywhere.",
)


ENTRY_READERS = Rule(
    "read-score-entries", ALL_ROLES,
    summary="For a unit: anyone whose subtree holds it as the tree stands today. For a "
            "member: the member themself, or anyone whose subtree holds the member's unit.",
)


class ScoreEntry(BaseModel):
    """One line of the ledger that explains a total: a change of the points a fact earns."""

    entry_id: int = Field(description="Position in the ledger; the cursor of the next page.")
    campaign_id: str
    phase_id: str
    points: Points = Field(description="Points added (negative when withdrawn).")
    reason: str = Field(description="The scoring rule that gave them, e.g. "
                                    "`initiative_submitted`.")
    source_event_id: str = Field(description="The event that earned them (or the campaign "
                                             "launch whose rules repriced the fact).")
    fact_id: str | None = Field(None, description="The fact repriced, e.g. `initiative:ini-1`.")
    recorded_at: datetime


class ScoreEntries(BaseModel):
    entries: list[ScoreEntry]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on "
                                               "the last one.")


class SubjectScore(BaseModel):
    """A unit's or member's running total in one campaign phase."""

    campaign_id: str
    phase_id: str
    subject_kind: SubjectKind
    subject_id: str
    total_points: Points = Field(description="Exact decimal points, as a string such as `12.5`.")


class FactPoints(BaseModel):
    """A fact behind a total and the points it earns now, under which rule."""

    fact_id: str = Field(description="`submission:<initiative>`, `initiative:<initiative>` "
                                     "(its counting review), `pledge:<pledge>:<unit>:<target>`, "
                                     "`work:<work>`, `registration:<registration>`.")
    campaign_id: str
    phase_id: str
    rule: str = Field(description="The rule pricing it, e.g. `initiative_accepted`; "
                                  "`initiative_rejected`, `pledge_target_pending` and "
                                  "`pledge_target_missed` earn 0.")
    points: Points
    unit_id: str
    level: str | None = Field(description="Review or plaque level.")
    grade: str | None
    benefit_vnd: int = Field(description="Recognised benefit of an accepted initiative, or a "
                                         "work's value (VND).")
    target_value: Decimal | None
    achieved_value: Decimal | None
    source_event_id: str = Field(description="The event that gave the fact its state.")
    occurred_at: datetime


class Breakdown(BaseModel):
    facts: list[FactPoints]
    next_after: str | None = Field(description="Pass as `after` for the next page.")


@router.get("/units/{unit_id}/scores", responses=problem_responses(401, 403, 404, 422, 503))
async def unit_scores(unit_id: Identifier, request: Request,
                      scope: Annotated[Scope, Depends(UNIT_READERS)]) -> list[SubjectScore]:
    """Totals of the unit and of its members, per campaign and phase."""
    await scope.require_unit(unit_id)
    rows = await queries.scores_of_unit(request.app.state.runtime.pool, unit_id)
    return [SubjectScore.model_validate(row) for row in rows]


async def _require_subject(scope: Scope, subject_kind: str, subject_id: str) -> None:
    if subject_kind == "unit":
        await scope.require_unit(subject_id)
    else:
        await scope.require_member(subject_id)


@router.get("/scores/{subject_kind}/{subject_id}/entries",
            responses=problem_responses(401, 403, 404, 422, 503))
async def score_entries(
    subject_kind: SubjectKind, subject_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(ENTRY_READERS)],
    after: Annotated[int, Query(ge=0, description="Cursor: the last `entry_id` seen.")] = 0,
    limit: Limit = 100,
) -> ScoreEntries:
    """Why a subject has its points: every ledger line, oldest first, a page at a time."""
    await _require_subject(scope, subject_kind, subject_id)
    rows = await queries.entries_of(request.app.state.runtime.pool, subject_kind,
                                    subject_id, after, limit + 1)
    page = [ScoreEntry.model_validate(r) for r in rows[:limit]]
    return ScoreEntries(entries=page,
                        next_after=page[-1].entry_id if len(rows) > limit else None)


@router.get("/scores/{subject_kind}/{subject_id}/breakdown",
            responses=problem_responses(401, 403, 404, 422, 503))
async def score_breakdown(
    subject_kind: SubjectKind, subject_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(ENTRY_READERS)],
    campaign_id: Identifier | None = None, phase_id: Identifier | None = None,
    after: Annotated[str, Query(max_length=200, pattern=r"^[^\x00]*$",
                                description="Cursor: the last `fact_id` seen.")] = "",
    limit: Limit = 100,
) -> Breakdown:
    """Every fact behind a subject's totals, the points it earns now and the rule that prices
    it (its campaign's rule set), by fact id."""
    await _require_subject(scope, subject_kind, subject_id)
    rows = await queries.breakdown_of(request.app.state.runtime.pool, subject_kind,
                                      subject_id, campaign_id, phase_id, after, limit + 1)
    page = [FactPoints.model_validate(r) for r in rows[:limit]]
    return Breakdown(facts=page, next_after=page[-1].fact_id if len(rows) > limit else None)

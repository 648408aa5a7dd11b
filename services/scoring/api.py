"""Scoring's HTTP queries: totals and why, standings, what-if, initiative totals, the barrier."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from contracts.events.common import Points, Sector, SubjectKind
from contracts.events.rules import ScoringRules
from services.runtime import idempotency
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import Role
from services.runtime.domain_errors import Invalid, NotFound
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import queries

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

STANDINGS_READERS = Rule(
    "read-standings", ALL_ROLES - {Role.MEMBER},
    summary="A district's, unit's or cluster's standings: whoever's subtree holds that unit "
            "(a cluster: its organizer) today; city and sector standings: any official, "
            "listing with their city-wide ranks only the subjects inside their subtree; "
            "auditors and the city administrator everything.",
)

WHAT_IF_CALLERS = Rule(
    "try-scoring-rules", {Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.AUDITOR},
    summary="Whoever may read the standings asked for (as for `read-standings`), among the "
            "city administrator, upper-level officials (who draft campaigns' rule sets) and "
            "auditors. Nothing live changes.",
)

TOTALS_READERS = Rule(
    "read-initiative-totals", ALL_ROLES - {Role.MEMBER},
    summary="Totals over the units inside the caller's subtree as the tree stands today; "
            "auditors and the city administrator over every unit.",
)

PHASE_READERS = Rule(
    "read-phase-barrier", {Role.CITY_ADMIN, Role.AUDITOR},
    summary="The city administrator and auditors: the barrier and its late events are the "
            "operators' view of every campaign.",
)

After = Annotated[int, Query(ge=0, le=10**9, description="Cursor: the last `position` seen.")]
Limit = Annotated[int, Query(ge=1, le=500)]
StandingsScope = Literal["city", "district", "sector", "cluster", "unit"]


class ScopeNotFound(NotFound):
    def __init__(self, scope: str, scope_id: str, field: str) -> None:
        super().__init__(f"{scope}_not_found", f"no {scope} {scope_id!r} in your scope",
                         field=field)


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


class Standing(BaseModel):
    rank: int = Field(description="1 is best; equal ranking points share a rank.")
    position: int = Field(description="Place in the listing; the cursor of the next page.")
    subject_kind: SubjectKind
    subject_id: str
    name: str | None
    total_points: Points
    ranking_points: Points | None = Field(description="What ranks: the total, per 100 "
                                                      "members, the shrunk rate, or accepted "
                                                      "initiatives (beat_pledge).")
    unit_id: str
    member_count: int | None
    district_id: str | None
    sector: str | None
    accepted_initiatives: int | None
    targets_pledged: int | None
    targets_met: int | None
    beat_pledge: bool | None
    direct_worker: bool | None


class Standings(BaseModel):
    basis: str = Field(description="The rule set's `unit_score_basis` (members: points).")
    standings: list[Standing]
    next_after: int | None


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scoring: ScoringRules = Field(description="The rule set to try; fields left out take the "
                                              "published defaults.")
    subject: SubjectKind = "unit"
    scope: StandingsScope = "city"
    scope_id: Identifier | None = None
    limit: int = Field(100, ge=1, le=1000, description="Standings listed under the rule set.")


class Move(BaseModel):
    subject_kind: SubjectKind
    subject_id: str
    live_rank: int | None
    what_if_rank: int | None
    places_moved: int | None = Field(description="Positive: up that many places.")
    live_ranking_points: Points | None
    what_if_ranking_points: Points | None


class WhatIf(BaseModel):
    basis: str
    standings: list[Standing] = Field(description="Standings under the rule set tried.")
    moves: list[Move] = Field(description="Every subject whose rank or ranking points differ "
                                          "from the live standings, largest move first.")


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


class PhaseBarrierView(BaseModel):
    campaign_id: str
    phase_id: str
    closed_at: datetime | None
    finalized_at: datetime | None
    accepted_counts: dict[str, int] = Field(description="From the close, per event type.")
    applied_counts: dict[str, int] = Field(description="Applied by scoring, per event type.")
    score_changed_count: int
    late_events: int


class LateEvent(BaseModel):
    event_id: str
    event_type: str
    unit_id: str | None
    received_at: datetime


class LateEvents(BaseModel):
    late_events: list[LateEvent]
    next_after: str | None


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


async def _standings_scope(scope: Scope, subject: str, kind: str, scope_id: str | None,
                           pool, prefix: str) -> None:
    """Check the scope asked for; raise 422 naming the field (`prefix` `query.` for query
    parameters, empty for body fields), or 404 when out of scope."""
    where, which = f"{prefix}scope", f"{prefix}scope_id"
    allowed = {"unit": {"city", "district", "sector", "cluster"},
               "member": {"city", "district", "unit"}}[subject]
    if kind not in allowed:
        raise Invalid("scope_not_ranked", f"{subject} standings are kept per "
                      f"{', '.join(sorted(allowed))}, not per {kind}", field=where)
    if kind == "city":
        if scope_id is not None:
            raise Invalid("scope_id_not_expected", "city standings take no scope_id",
                          field=which)
        return
    if scope_id is None:
        raise Invalid("scope_id_missing", f"{kind} standings need the {kind}'s id as scope_id",
                      field=which)
    if kind == "sector":
        if scope_id not in get_args(Sector):
            raise Invalid("sector_unknown", f"no sector {scope_id!r}", field=which)
        return
    if kind == "cluster":
        organizer = await queries.cluster_organizer(pool, scope_id)
        if organizer is None or not (scope.caller.city_wide
                                     or await scope.holds_unit(organizer)):
            raise ScopeNotFound("cluster", scope_id, which)
        return
    await scope.require_unit(scope_id, otherwise=ScopeNotFound(kind, scope_id, which))


async def _visible(scope: Scope, rows: list[dict]) -> list[dict]:
    return await scope.visible(rows, lambda r: r["unit_id"])


@router.get("/campaigns/{campaign_id}/phases/{phase_id}/standings",
            responses=problem_responses(401, 403, 404, 422, 503))
async def phase_standings(
    campaign_id: Identifier, phase_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(STANDINGS_READERS)],
    subject: SubjectKind = "unit",
    scope_kind: Annotated[StandingsScope, Query(alias="scope")] = "city",
    scope_id: Identifier | None = None,
    after: After = 0, limit: Limit = 100,
) -> Standings:
    """Live standings of a phase: units of the city, a district (as of the phase's last day),
    a sector block or a cluster ranked on the campaign's `unit_score_basis`; or members of the
    city, a district or a unit by points. Ranks with ties, a page at a time; empty for a phase
    scoring has seen nothing of."""
    pool = request.app.state.runtime.pool
    await _standings_scope(scope, subject, scope_kind, scope_id, pool, "query.")
    rules = queries.live_rules(await queries.campaign_of(pool, campaign_id))
    rows = await queries.standings_page(pool, campaign_id, phase_id, rules, subject,
                                        scope_kind, scope_id, after, limit)
    shown = await _visible(scope, rows)
    return Standings(
        basis=rules.unit_score_basis if subject == "unit" else "total",
        standings=[Standing.model_validate(r) for r in shown],
        next_after=rows[-1]["position"] if len(rows) == limit else None,
    )


@router.post("/campaigns/{campaign_id}/phases/{phase_id}/what-if", response_model=WhatIf,
             responses=problem_responses(401, 403, 404, 422, 503))
async def what_if(
    campaign_id: Identifier, phase_id: Identifier, command: WhatIfRequest, request: Request,
    scope: Annotated[Scope, Depends(WHAT_IF_CALLERS)],
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """The phase's standings were its facts priced under another rule set, and who moves by
    how much against the live standings. Read-only: nothing live changes. With an
    `Idempotency-Key`, a repeat answers the first answer."""
    pool = request.app.state.runtime.pool
    fingerprint = idempotency.fingerprint(
        "POST", f"/campaigns/{campaign_id}/phases/{phase_id}/what-if", command,
        caller=scope.caller.subject)
    if idempotency_key is not None:
        kept = await queries.kept_answer(pool, idempotency_key)
        if kept is not None:
            return idempotency.replay(kept, fingerprint)
    await _standings_scope(scope, command.subject, command.scope, command.scope_id, pool, "")
    live = queries.live_rules(await queries.campaign_of(pool, campaign_id))
    rows, moves = await queries.what_if(pool, campaign_id, phase_id, live, command.scoring,
                                        command.subject, command.scope, command.scope_id)
    shown = await _visible(scope, rows)
    moves = await scope.visible(moves, lambda m: m.unit_id)
    answer = WhatIf(
        basis=command.scoring.unit_score_basis if command.subject == "unit" else "total",
        standings=[Standing.model_validate(r) for r in shown[:command.limit]],
        moves=[Move(subject_kind=m.subject_kind, subject_id=m.subject_id,
                    live_rank=m.live_rank, what_if_rank=m.what_if_rank,
                    places_moved=(m.live_rank - m.what_if_rank
                                  if m.live_rank and m.what_if_rank else None),
                    live_ranking_points=m.live_ranking_points,
                    what_if_ranking_points=m.what_if_ranking_points) for m in moves],
    )
    body = answer.model_dump_json().encode()
    if idempotency_key is not None:
        kept = await queries.keep_answer(pool, idempotency.KeptAnswer(
            idempotency_key, fingerprint, status.HTTP_200_OK, body))
        return idempotency.replay(kept, fingerprint) if kept.body != body else Response(
            body, media_type="application/json")
    return Response(body, media_type="application/json")


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


@router.get("/campaigns/{campaign_id}/phases/{phase_id}/barrier",
            responses=problem_responses(401, 403, 404, 422, 503))
async def phase_barrier(
    campaign_id: Identifier, phase_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(PHASE_READERS)],
) -> PhaseBarrierView:
    """Where the phase stands at the close barrier: the close's accepted counts against the
    events scoring applied, when it was finalized, and how many events came late (all empty
    for a phase scoring has seen nothing of)."""
    pool = request.app.state.runtime.pool
    row = await queries.phase_barrier(pool, campaign_id, phase_id) or {}
    counts = json.loads(row.get("counts") or "{}")
    score_changes = int(counts.pop("emitted:thidua.score.changed.v1", 0))
    return PhaseBarrierView(
        campaign_id=campaign_id, phase_id=phase_id, closed_at=row.get("closed_at"),
        finalized_at=row.get("finalized_at"),
        accepted_counts=json.loads(row.get("accepted_counts") or "{}"),
        applied_counts={k: int(v) for k, v in counts.items()},
        score_changed_count=score_changes, late_events=row.get("late_events", 0),
    )


@router.get("/campaigns/{campaign_id}/phases/{phase_id}/late-events",
            responses=problem_responses(401, 403, 404, 422, 503))
async def phase_late_events(
    campaign_id: Identifier, phase_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(PHASE_READERS)],
    after: Annotated[str, Query(max_length=200, pattern=r"^[^\x00]*$",
                                description="Cursor: the last `event_id` seen.")] = "",
    limit: Limit = 100,
) -> LateEvents:
    """Events of the phase that arrived after its standings were finalized: kept, not
    applied."""
    pool = request.app.state.runtime.pool
    rows = await queries.late_events(pool, campaign_id, phase_id, after, limit + 1)
    page = [LateEvent.model_validate(r) for r in rows[:limit]]
    return LateEvents(late_events=page,
                      next_after=page[-1].event_id if len(rows) > limit else None)

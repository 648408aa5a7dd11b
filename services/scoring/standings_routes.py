"""Standings of a phase at every level, and the same standings under a rule set tried."""

from __future__ import annotations

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
from .query_params import After, Limit

router = APIRouter(tags=["scores"])

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


StandingsScope = Literal["city", "district", "sector", "cluster", "unit"]


class ScopeNotFound(NotFound):
    def __init__(self, scope: str, scope_id: str, field: str) -> None:
        super().__init__(f"{scope}_not_found", f"no {scope} {scope_id!r} in your scope",
                         field=field)


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

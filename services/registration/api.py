"""Registration's HTTP commands and queries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from contracts.events.base import Actor
from services.runtime import command_runs, idempotency
from services.runtime.access import ALL_ROLES, VIETNAM, Rule, Scope
from services.runtime.caller import Role
from services.runtime.domain_errors import NotFound
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import domain, phase_gate, repository
from .campaign_domain import PhaseClosed
from .phase_gate import check_window

log = structlog.get_logger()
router = APIRouter(tags=["initiatives"])

SUBMITTERS = Rule(
    "submit-initiative",
    {Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL, Role.MEMBER},
    writes=True,
    summary="An official whose subtree holds the unit as the tree stands today; a member for "
            "their own unit, as one of the authors.",
)
REVIEWERS = Rule(
    "review-initiative",
    {Role.COUNCIL_REVIEWER, Role.CITY_ADMIN, Role.UPPER_OFFICIAL, Role.GRASSROOTS_OFFICIAL},
    writes=True,
    summary="A council reviewer for their own unit's council, or an official, whose subtree "
            "holds the initiative's unit as the tree stands today; others get 404.",
)
READERS = Rule(
    "read-initiative", ALL_ROLES,
    summary="Anyone whose scope holds the unit today or held it on the submission date; a "
            "member for initiatives they author. Others get 404, as for an unknown id.",
)


class DuplicateCandidate(BaseModel):
    """An earlier initiative whose title looked alike when this one was submitted."""

    initiative_id: str
    title: str
    similarity: float = Field(description="Trigram similarity of the accent-folded titles, 0–1.")


class InitiativeAccepted(BaseModel):
    initiative_id: str
    event_id: str = Field(description="Id of the `thidua.initiative.submitted.v1` event.")
    correlation_id: str = Field(description="Carried by every event this submission causes.")
    status: Literal["submitted"]
    duplicate_candidates: list[DuplicateCandidate] = Field(
        description="Earlier initiatives (same campaign, or earlier years) with a similar title, "
                    "most similar first; the submission is accepted regardless.")


class Author(BaseModel):
    member_id: str
    full_name: str
    direct_worker: bool


class Review(BaseModel):
    """A council's decision on an initiative, at one level."""

    level: str
    outcome: str
    grade: str | None
    recognised_benefit_vnd: int
    reason_for_higher_benefit: str | None
    comment: str | None
    council_unit_id: str
    reviewed_at: datetime
    event_id: str
    reviewed_by: Actor = Field(description="Who recorded the decision (audit trail).")


class ReviewRecorded(BaseModel):
    initiative_id: str
    level: str
    outcome: str
    council_unit_id: str
    event_id: str = Field(description="Id of the `thidua.initiative.reviewed.v1` event.")
    correlation_id: str


class Initiative(BaseModel):
    """An initiative as stored."""

    initiative_id: str
    campaign_id: str
    phase_id: str
    unit_id: str
    district: str | None = Field(description="From the unit directory at submission.")
    title: str
    field: str
    authors: list[Author]
    claimed_benefit_vnd: int
    status: str
    submitted_at: datetime
    event_id: str
    correlation_id: str
    submitted_by: Actor | None = Field(description="Who submitted it (audit trail).")
    duplicate_candidates: list[DuplicateCandidate] = Field(
        description="Possible duplicates found at submission, for the reviewers.")
    reviews: list[Review] = Field(description="Councils' decisions, lowest level first.")


@router.post("/initiatives", status_code=status.HTTP_202_ACCEPTED,
             response_model=InitiativeAccepted, responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def submit_initiative(
    command: domain.SubmitInitiative, request: Request,
    scope: Annotated[Scope, Depends(SUBMITTERS)],
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """Accept an initiative; scoring, awards and notify learn of it from its event.

    The event's district is the unit's in the directory, and its `actor` is the caller. Safe
    to retry: with an `Idempotency-Key`, or with a client-chosen `initiative_id` (a repeat
    then answers 409 `initiative_exists`).
    """
    unit = await scope.require_acting_on(command.unit_id)
    if scope.caller.role is Role.MEMBER:
        domain.check_member_submits_own(command, scope.caller.member_id)
    if unit.status != "active":
        raise domain.UnitNotActive(command.unit_id)
    domain.check_district(command, unit.district_id)
    await phase_gate.admit(request, scope, command.campaign_id, command.phase_id,
                           command.unit_id, "entries")
    data = domain.initiative_submitted(command, datetime.now(UTC), scope.actor)
    runtime = request.app.state.runtime
    event = runtime.envelopes.for_command(data, district=unit.district_id,
                                          correlation_id=request.state.correlation_id,
                                          subject=data.initiative_id)
    # The candidates are found and added to the answer in the statement that stores it, so
    # the bytes sent are the bytes kept and a replay is identical.
    head = json.dumps({"initiative_id": data.initiative_id, "event_id": event.id,
                       "correlation_id": event.correlationid, "status": "submitted"},
                      ensure_ascii=False).encode()
    fingerprint = None
    if idempotency_key is not None:
        fingerprint = idempotency.fingerprint("POST", "/initiatives", command,
                                              caller=scope.caller.subject)
    local = data.submitted_at.astimezone(VIETNAM)
    try:
        body, kept = await repository.record_initiative(
            runtime.pool, event, head, idempotency_key, fingerprint,
            threshold=runtime.definition.settings.duplicate_threshold,
            earlier_than=datetime(local.year, 1, 1, tzinfo=VIETNAM))
    except PhaseClosed as exc:
        phase_gate.refused(exc)
        raise
    if kept is not None:
        return idempotency.replay(kept, kept.fingerprint if fingerprint is None else fingerprint)
    log.info("initiative_submitted", initiative_id=data.initiative_id, unit_id=data.unit_id,
             event_id=event.id)
    return Response(body, status_code=202, media_type="application/json")


@router.get("/initiatives/{initiative_id}",
            responses=problem_responses(401, 403, 404, 422, 503))
async def get_initiative(initiative_id: Identifier, request: Request,
                         scope: Annotated[Scope, Depends(READERS)]) -> Initiative:
    found = await repository.find_initiative(request.app.state.runtime.pool, initiative_id)
    if found is None:
        raise domain.InitiativeNotFound(initiative_id)
    await scope.require_unit(
        found["unit_id"], on=scope.local_date(found["submitted_at"]),
        members=[a["member_id"] for a in found["authors"]],
        otherwise=domain.InitiativeNotFound(initiative_id))
    found["reviews"] = await repository.reviews_of(request.app.state.runtime.pool,
                                                   initiative_id)
    return Initiative.model_validate(found)


async def _council_unit(scope: Scope, command: domain.ReviewInitiative, initiative_unit: str):
    """The unit whose council decided, and its state today: in the caller's scope, and holding
    the initiative's unit."""
    caller = scope.caller
    council = command.council_unit_id or caller.unit_id
    if caller.role is Role.COUNCIL_REVIEWER and council != caller.unit_id:
        raise domain.NotOwnCouncil(council)
    if council is None:
        raise domain.CouncilUnitRequired()
    unit = await scope.require_acting_on(council, field="council_unit_id")
    if not await scope.directory.inside(initiative_unit, council, scope.today):
        raise domain.CouncilNotOverUnit(council, initiative_unit)
    return unit


@router.post("/initiatives/{initiative_id}/reviews", status_code=status.HTTP_201_CREATED,
             response_model=ReviewRecorded,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def review_initiative(
    initiative_id: Identifier, command: domain.ReviewInitiative, request: Request,
    scope: Annotated[Scope, Depends(REVIEWERS)],
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Response:
    """Record a council's decision at its level; emits `thidua.initiative.reviewed.v1` (its
    `council_unit_id` the council's unit, its `actor` the caller) with the review, in one
    transaction. One review per level (409 `already_reviewed_at_level`); the first at the
    level of the initiative's own unit, each later one higher and only after the last accepted
    it (409 `lower_level_not_accepted`); a rejection ends it (409 `initiative_rejected`).
    Safe to retry with an `Idempotency-Key`."""
    runtime = request.app.state.runtime
    pool = runtime.pool
    found = await repository.find_initiative(pool, initiative_id)
    if found is None:
        raise domain.InitiativeNotFound(initiative_id)
    try:
        unit = await scope.require_acting_on(found["unit_id"])
    except NotFound:
        raise domain.InitiativeNotFound(initiative_id) from None
    domain.check_review_body(command, found["claimed_benefit_vnd"])
    council = await _council_unit(scope, command, found["unit_id"])
    domain.check_council_level(command, council.unit_id, council.kind)
    own_level = domain.COUNCIL_LEVEL.get(unit.kind, "grassroots")
    reach = await phase_gate.campaign(request, found["campaign_id"])
    check_window(reach, found["phase_id"], scope.today, "reckoning")

    async def work(conn) -> bytes:
        await phase_gate.enter(conn, reach, found["phase_id"], scope.today, "reckoning")
        initiative, earlier = await repository.lock_for_review(conn, initiative_id)
        domain.check_review_order(initiative_id, own_level, command.level, earlier)
        data = domain.initiative_reviewed(initiative, command, council.unit_id,
                                          datetime.now(UTC), scope.actor)
        event = runtime.envelopes.for_command(data, district=found["district"],
                                              correlation_id=request.state.correlation_id,
                                              subject=initiative_id)
        await repository.record_review(conn, event, command)
        log.info("initiative_reviewed", initiative_id=initiative_id, level=data.level,
                 outcome=data.outcome, event_id=event.id)
        recorded = ReviewRecorded(initiative_id=initiative_id, level=data.level,
                                  outcome=data.outcome, council_unit_id=council.unit_id,
                                  event_id=event.id, correlation_id=event.correlationid)
        return recorded.__pydantic_serializer__.to_json(recorded)

    route = f"/initiatives/{initiative_id}/reviews"
    fingerprint = idempotency.fingerprint("POST", route, command, caller=scope.caller.subject)
    return await command_runs.run(pool, idempotency_key, fingerprint, 201, work)

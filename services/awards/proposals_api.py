"""Proposals over HTTP: the published lists, objections and their answers, approval (a numbered
decision and `thidua.award.granted.v1`), rejection, and bulk approval reporting each item."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from contracts.events.common import Level, Points, SubjectKind, Title
from services.runtime import command_runs, idempotency
from services.runtime.access import ALL_ROLES, Rule, Scope
from services.runtime.caller import OFFICIALS, Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import approvals, proposal_queries
from .approvals import Outcome, Signing

router = APIRouter(tags=["proposals"])

READERS = Rule(
    "read-proposals", ALL_ROLES,
    summary="Officials, reviewers and integrators: proposals whose candidate's unit or issuing "
            "unit lies in their subtree; members: the published list of their own unit; "
            "city-wide roles everywhere.")
DECIDERS = Rule(
    "decide-proposals", OFFICIALS, writes=True,
    summary="An official of the proposal's issuing unit (a city administrator for any): "
            "outside their subtree 404; inside it but not the issuer, 403 `not_issuing_unit`.")
OBJECTORS = Rule(
    "object-to-proposals", ALL_ROLES - {Role.INTEGRATOR, Role.AUDITOR}, writes=True,
    summary="Anyone who may read the proposal, while it is published (members: proposals of "
            "their own unit).")
ANSWERERS = Rule(
    "answer-objections", OFFICIALS, writes=True,
    summary="An official of the proposal's issuing unit (a city administrator for any).")


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Approve(_Command):
    signatory: str = Field(min_length=1, max_length=200,
                           description="Who signs the decision, e.g. `Nguyễn Văn Hùng, Chủ tịch`.")
    decision_date: date | None = Field(
        None, description="Date of the decision; today (Vietnam) when absent.")


class ApproveMany(Approve):
    proposal_ids: list[Identifier] = Field(min_length=1, max_length=500,
                                           description="The proposals to approve.")


class Reject(_Command):
    reason: str = Field(min_length=1, max_length=2000, description="Why, told to the candidate.")


class Objection(_Command):
    text: str = Field(min_length=1, max_length=2000, description="The objection.")


class Answer(_Command):
    answer: str = Field(min_length=1, max_length=2000, description="The issuer's answer.")
    upheld: bool = Field(description="True: the objection stands and the proposal can only be "
                                     "rejected; false: it is dismissed.")


class ObjectionView(BaseModel):
    objection_id: str
    text: str
    raised_at: datetime
    answer: str | None
    upheld: bool | None
    answered_at: datetime | None


class ProposalView(BaseModel):
    proposal_id: str
    campaign_id: str
    phase_id: str
    year: int
    title: Title
    level: Level
    subject_kind: SubjectKind
    subject_id: str
    subject_name: str
    unit_id: str
    issuer_unit_id: str
    cluster_id: str | None
    points: Points
    rank: int | None
    quota: int | None
    candidate_count: int
    tie_break: str | None
    standing: str = Field(description="Where the candidate stands, in words.")
    direct_worker: bool
    initiative_ids: list[str]
    status: Literal["proposed", "beyond_quota", "excluded", "approved", "rejected"]
    proposed_at: datetime
    disclosure_ends_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    decision_id: str | None
    objections: list[ObjectionView] = Field(default_factory=list)


class ProposalPage(BaseModel):
    items: list[ProposalView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at "
                                                "the end.")


class Approved(BaseModel):
    proposal_id: str
    award_id: str
    decision_id: str
    decision_number: str


class ItemOutcome(BaseModel):
    proposal_id: str
    outcome: Literal["approved", "refused"]
    code: str | None = Field(description="Why refused, e.g. `disclosure_period_open`.")
    message: str | None
    award_id: str | None
    decision_id: str | None
    decision_number: str | None


class BulkApproved(BaseModel):
    approved: int
    refused: int
    items: list[ItemOutcome] = Field(description="Every item's outcome, in the order sent.")


class Recorded(BaseModel):
    id: str
    status: str


def _now(request: Request) -> datetime:
    return request.app.state.runtime.definition.clock()


def _signing(request: Request, scope: Scope, command: Approve) -> Signing:
    settings = request.app.state.runtime.definition.settings
    return Signing(command.signatory, command.decision_date or scope.today,
                   settings.base_salary_vnd, settings.decision_number_format)


@router.get("/proposals", responses=problem_responses(401, 403, 422, 503))
async def list_proposals(
    request: Request, scope: Annotated[Scope, Depends(READERS)],
    campaign_id: Annotated[str | None, Query(max_length=100)] = None,
    phase_id: Annotated[str | None, Query(max_length=100)] = None,
    title: Title | None = None, level: Level | None = None,
    status_: Annotated[str | None, Query(alias="status", pattern=(
        "^(proposed|beyond_quota|excluded|approved|rejected)$"))] = None,
    issuer_unit_id: Annotated[str | None, Query(max_length=100)] = None,
    subject_id: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ProposalPage:
    """The placements of proposal rounds in the caller's scope, by id: filter by campaign,
    phase, title, level, status, issuer or subject."""
    rows, next_cursor = await proposal_queries.page(
        request.app.state.runtime.pool, scope, proposal_queries.Filters(
            campaign_id, phase_id, title, level, status_, issuer_unit_id, subject_id),
        cursor, limit)
    return ProposalPage(items=[ProposalView.model_validate(r) for r in rows],
                        next_cursor=next_cursor)


@router.get("/proposals/{proposal_id}", responses=problem_responses(401, 403, 404, 422, 503))
async def get_proposal(proposal_id: Identifier, request: Request,
                       scope: Annotated[Scope, Depends(READERS)]) -> ProposalView:
    """One proposal with its objections and their answers."""
    row = await proposal_queries.one(request.app.state.runtime.pool, scope, proposal_id)
    return ProposalView.model_validate(row)


@router.post("/proposals/{proposal_id}/approval", status_code=status.HTTP_201_CREATED,
             response_model=Approved, responses=problem_responses(401, 403, 404, 409, 422, 503))
async def approve(proposal_id: Identifier, command: Approve, request: Request,
                  scope: Annotated[Scope, Depends(DECIDERS)],
                  idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Approve a proposal after its disclosure period: a numbered decision of the issuing
    unit, cash from the rule set, `thidua.award.granted.v1`. Refused (409) while published,
    with an objection unanswered or upheld, before the level below is approved, when already
    decided or when an initiative it rests on already earned another award."""
    runtime = request.app.state.runtime

    async def work(conn) -> Approved:
        run = await approvals.approve(conn, scope, runtime.envelopes, [proposal_id],
                                      _signing(request, scope, command), _now(request),
                                      request.state.correlation_id, bulk=False)
        [o] = run.outcomes
        return Approved(proposal_id=o.proposal_id, award_id=o.award_id or "",
                        decision_id=o.decision_id or "", decision_number=o.decision_number or "")

    fingerprint = idempotency.fingerprint("POST", request.url.path, command,
                                          caller=scope.caller.subject)
    return await command_runs.run(runtime.pool, idempotency_key, fingerprint, 201, work)


@router.post("/proposals/approvals", response_model=BulkApproved,
             responses=problem_responses(401, 403, 409, 422, 503))
async def approve_many(command: ApproveMany, request: Request,
                       scope: Annotated[Scope, Depends(DECIDERS)],
                       idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Approve a list: each item approved or refused on its own (`items` says which and why;
    a proposal out of scope is refused `proposal_not_found`); the approved items of one
    issuer share one numbered decision."""
    runtime = request.app.state.runtime

    async def work(conn) -> BulkApproved:
        run = await approvals.approve(conn, scope, runtime.envelopes, command.proposal_ids,
                                      _signing(request, scope, command), _now(request),
                                      request.state.correlation_id, bulk=True)
        items = [_item(o) for o in run.outcomes]
        approved = sum(1 for o in items if o.outcome == "approved")
        return BulkApproved(approved=approved, refused=len(items) - approved, items=items)

    fingerprint = idempotency.fingerprint("POST", request.url.path, command,
                                          caller=scope.caller.subject)
    return await command_runs.run(runtime.pool, idempotency_key, fingerprint, 200, work)


def _item(o: Outcome) -> ItemOutcome:
    return ItemOutcome(proposal_id=o.proposal_id, outcome=o.outcome, code=o.code,
                       message=o.message, award_id=o.award_id, decision_id=o.decision_id,
                       decision_number=o.decision_number)


@router.post("/proposals/{proposal_id}/rejection", response_model=Recorded,
             responses=problem_responses(401, 403, 404, 409, 422, 503))
async def reject(proposal_id: Identifier, command: Reject, request: Request,
                 scope: Annotated[Scope, Depends(DECIDERS)],
                 idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Reject a proposal, with the reason the candidate is told."""
    runtime = request.app.state.runtime

    async def work(conn) -> Recorded:
        await approvals.reject(conn, scope, proposal_id, command.reason, _now(request))
        return Recorded(id=proposal_id, status="rejected")

    fingerprint = idempotency.fingerprint("POST", request.url.path, command,
                                          caller=scope.caller.subject)
    return await command_runs.run(runtime.pool, idempotency_key, fingerprint, 200, work)


@router.post("/proposals/{proposal_id}/objections", status_code=status.HTTP_201_CREATED,
             response_model=Recorded, responses=problem_responses(401, 403, 404, 409, 422, 503))
async def object_to(proposal_id: Identifier, command: Objection, request: Request,
                    scope: Annotated[Scope, Depends(OBJECTORS)],
                    idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Object to a published proposal, during its disclosure period (409 after)."""
    runtime = request.app.state.runtime

    async def work(conn) -> Recorded:
        oid = await approvals.object_to(conn, scope, proposal_id, command.text, _now(request))
        return Recorded(id=oid, status="open")

    fingerprint = idempotency.fingerprint("POST", request.url.path, command,
                                          caller=scope.caller.subject)
    return await command_runs.run(runtime.pool, idempotency_key, fingerprint, 201, work)


@router.post("/proposals/{proposal_id}/objections/{objection_id}/answer",
             response_model=Recorded, responses=problem_responses(401, 403, 404, 409, 422, 503))
async def answer_objection(proposal_id: Identifier, objection_id: Identifier, command: Answer,
                           request: Request, scope: Annotated[Scope, Depends(ANSWERERS)],
                           idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Answer an objection once: upheld (the proposal can then only be rejected) or not."""
    runtime = request.app.state.runtime

    async def work(conn) -> Recorded:
        await approvals.answer(conn, scope, proposal_id, objection_id, command.answer,
                               command.upheld, _now(request))
        return Recorded(id=objection_id, status="upheld" if command.upheld else "dismissed")

    fingerprint = idempotency.fingerprint("POST", request.url.path, command,
                                          caller=scope.caller.subject)
    return await command_runs.run(runtime.pool, idempotency_key, fingerprint, 200, work)

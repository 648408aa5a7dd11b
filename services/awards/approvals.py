"""Approving and rejecting proposals: the checks of `decision_rules` over the locked rows of
`decision_repository`, numbered decisions and their `thidua.award.granted.v1` events.

A bulk approval runs each item in its own savepoint, so one refused item leaves the others
approved, and reports every item's outcome; the items approved by one issuer in one request
share one numbered decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import asyncpg

from contracts import CloudEvent
from contracts.events.awards import AwardGranted
from services.runtime import outbox
from services.runtime.access import Scope
from services.runtime.caller import Role
from services.runtime.context import Envelopes
from services.runtime.domain_errors import DomainError, NotFound

from . import decision_repository as repo
from . import decision_rules as rules
from .visibility import sees, visible_units


class ProposalNotFound(NotFound):
    def __init__(self, proposal_id: str) -> None:
        super().__init__("proposal_not_found", f"no proposal {proposal_id} in your scope",
                         field="proposal_id")


@dataclass(frozen=True)
class Signing:
    signatory: str
    decision_date: date
    base_salary_vnd: int
    number_format: str


@dataclass
class Outcome:
    proposal_id: str
    outcome: str  # approved or refused
    code: str | None = None
    message: str | None = None
    award_id: str | None = None
    decision_id: str | None = None
    decision_number: str | None = None


@dataclass
class _Decision:
    decision_id: str
    number: str
    issuer_name: str


@dataclass
class ApprovalRun:
    outcomes: list[Outcome] = field(default_factory=list)
    events: list[CloudEvent] = field(default_factory=list)
    decisions: dict[tuple[str, int], _Decision] = field(default_factory=dict)


async def locked_in_scope(conn: asyncpg.Connection, scope: Scope, proposal_id: str) -> repo.Locked:
    """The locked proposal if the caller may see it (its candidate's unit or its issuer in
    their subtree); otherwise not found, like one that does not exist."""
    locked = await repo.lock(conn, proposal_id)
    if locked is None:
        raise ProposalNotFound(proposal_id)
    p = locked.row
    if not sees(await visible_units(scope), p["unit_id"], p["issuer_unit_id"]):
        raise ProposalNotFound(proposal_id)
    return locked


def state_of(locked: repo.Locked) -> rules.ProposalState:
    p = locked.row
    lower = rules.lower_level(locked.rules, p["title"], p["level"])
    return rules.ProposalState(
        p["proposal_id"], p["status"], p["issuer_unit_id"], p["disclosure_ends_at"],
        locked.unanswered, locked.upheld, lower,
        lower is not None and locked.statuses_by_level.get(lower) == "approved")


def _decides(scope: Scope, locked: repo.Locked) -> rules.ProposalState:
    state = state_of(locked)
    if scope.caller.read_only or scope.caller.role is Role.MEMBER:
        raise rules.NotIssuingUnit(state.issuer_unit_id)
    rules.check_decidable(state, scope.caller.unit_id, scope.caller.role is Role.CITY_ADMIN)
    return state


async def _approve_one(conn: asyncpg.Connection, scope: Scope, envelopes: Envelopes,
                       proposal_id: str, signing: Signing, now: datetime, run: ApprovalRun,
                       correlation_id: str | None) -> Outcome:
    locked = await locked_in_scope(conn, scope, proposal_id)
    rules.check_approvable(_decides(scope, locked), now)
    p = locked.row
    taken = await repo.already_consumed(conn, p["initiative_ids"])
    if taken:
        raise rules.InitiativeAlreadyRewarded(taken)
    directory = scope.directory
    issuer = await directory.unit(p["issuer_unit_id"], signing.decision_date)
    unit = await directory.unit(p["unit_id"], signing.decision_date)
    district = unit.district_id if unit else None
    actor = scope.actor.model_dump()
    key = (p["issuer_unit_id"], p["year"])
    decision = run.decisions.get(key)
    if decision is None:
        issuer_name = issuer.name if issuer else p["issuer_unit_id"]
        did, number = await repo.open_decision(
            conn, p["issuer_unit_id"], issuer_name,
            issuer.district_id if issuer else None, p["year"], signing.decision_date,
            signing.signatory, actor, now, signing.number_format)
        decision = run.decisions[key] = _Decision(did, number, issuer_name)
    cash = rules.cash_vnd(locked.rules, p["title"], p["level"], signing.base_salary_vnd)
    award_id = await repo.grant(conn, decision.decision_id, decision.number,
                                decision.issuer_name, p, unit.parent_id if unit else None,
                                district, cash, actor, now)
    if award_id is None:  # consumed meanwhile by a concurrent decision
        raise rules.InitiativeAlreadyRewarded(list(p["initiative_ids"]))
    data = AwardGranted(
        unit_id=p["unit_id"], campaign_id=p["campaign_id"], subject_kind=p["subject_kind"],
        subject_id=p["subject_id"], title=p["title"], level=p["level"], award_id=award_id,
        proposal_id=proposal_id, phase_id=p["phase_id"], subject_name=p["subject_name"],
        unit_parent_id=unit.parent_id if unit else None, decision_number=decision.number,
        decision_date=signing.decision_date, issuer_unit_id=p["issuer_unit_id"],
        issuer_name=decision.issuer_name, granted_at=now, decision_id=decision.decision_id,
        signatory=signing.signatory, cash_amount_vnd=cash,
        consumed_initiative_ids=list(p["initiative_ids"]), actor=scope.actor)
    run.events.append(envelopes.for_command(data, district=district,
                                            correlation_id=correlation_id,
                                            subject=p["subject_id"]))
    return Outcome(proposal_id, "approved", award_id=award_id,
                   decision_id=decision.decision_id, decision_number=decision.number)


async def approve(conn: asyncpg.Connection, scope: Scope, envelopes: Envelopes,
                  proposal_ids: list[str], signing: Signing, now: datetime,
                  correlation_id: str | None, *, bulk: bool) -> ApprovalRun:
    """Approve each proposal; run inside the command's transaction. Single: a refusal raises.
    Bulk: each refusal is an outcome and leaves the other items as they are."""
    run = ApprovalRun()
    for proposal_id in dict.fromkeys(proposal_ids):
        try:
            async with conn.transaction():  # a savepoint per item
                run.outcomes.append(await _approve_one(conn, scope, envelopes, proposal_id,
                                                       signing, now, run, correlation_id))
        except DomainError as refused:
            if not bulk:
                raise
            run.outcomes.append(Outcome(proposal_id, "refused", refused.code, refused.message))
    run.decisions = {k: d for k, d in run.decisions.items()
                     if any(o.decision_id == d.decision_id for o in run.outcomes)}
    await outbox.enqueue(conn, run.events)
    return run


async def reject(conn: asyncpg.Connection, scope: Scope, proposal_id: str, reason: str,
                 now: datetime) -> None:
    if not reason.strip():
        raise rules.ReasonRequired()
    locked = await locked_in_scope(conn, scope, proposal_id)
    _decides(scope, locked)
    await repo.reject(conn, proposal_id, reason, scope.actor.model_dump(), now)


async def object_to(conn: asyncpg.Connection, scope: Scope, proposal_id: str, text: str,
                    now: datetime) -> str:
    locked = await locked_in_scope(conn, scope, proposal_id)
    p = locked.row
    if p["status"] != "proposed":
        raise rules.NotWithinQuota(proposal_id, p["status"])
    if now >= p["disclosure_ends_at"]:
        raise rules.DisclosureOver(p["disclosure_ends_at"])
    return await repo.add_objection(conn, proposal_id, text, scope.actor.model_dump(), now)


async def answer(conn: asyncpg.Connection, scope: Scope, proposal_id: str, objection_id: str,
                 text: str, upheld: bool, now: datetime) -> None:
    locked = await locked_in_scope(conn, scope, proposal_id)
    state = state_of(locked)
    if scope.caller.role is not Role.CITY_ADMIN and scope.caller.unit_id != state.issuer_unit_id:
        raise rules.NotIssuingUnit(state.issuer_unit_id)
    if scope.caller.read_only or scope.caller.role is Role.MEMBER:
        raise rules.NotIssuingUnit(state.issuer_unit_id)
    found = await repo.answer_objection(conn, proposal_id, objection_id, text, upheld,
                                        scope.actor.model_dump(), now)
    if found is None:
        raise NotFound("objection_not_found", f"no objection {objection_id} to this proposal",
                       field="objection_id")
    if found == "answered":
        raise rules.ObjectionAlreadyAnswered(objection_id)

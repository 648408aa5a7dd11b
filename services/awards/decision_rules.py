"""When a proposal may be decided, and what a decision holds: pure rules and their refusals.

An official decides a proposal only at its issuing unit (the unit whose quota it counts
against), only once its disclosure period is over with every objection answered and none
upheld, only once the same title was approved at the level below (the pyramid), and only once:
a second approval of a decided proposal is refused, however the two arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from contracts.events.rules import AwardRules
from services.runtime.domain_errors import Conflict, Forbidden, Invalid

DECISION_NUMBER_FORMAT = "{number}/{year}/QĐ-KT"


class NotIssuingUnit(Forbidden):
    def __init__(self, issuer: str) -> None:
        super().__init__("not_issuing_unit",
                         f"only an official of the issuing unit {issuer} decides this proposal")


class AlreadyDecided(Conflict):
    def __init__(self, proposal_id: str, status: str) -> None:
        super().__init__("proposal_already_decided",
                         f"proposal {proposal_id} is already {status}", field="proposal_id")


class NotWithinQuota(Conflict):
    def __init__(self, proposal_id: str, status: str) -> None:
        super().__init__(f"proposal_{status}",
                         f"{proposal_id} is {status.replace('_', ' ')}: nothing to decide",
                         field="proposal_id")


class DisclosureOpen(Conflict):
    def __init__(self, ends_at: datetime) -> None:
        super().__init__("disclosure_period_open",
                         f"the proposal is published for objections until {ends_at.isoformat()}")


class DisclosureOver(Conflict):
    def __init__(self, ends_at: datetime) -> None:
        super().__init__("disclosure_period_over",
                         f"objections were taken until {ends_at.isoformat()}")


class ObjectionUnanswered(Conflict):
    def __init__(self, count: int) -> None:
        super().__init__("objection_unanswered",
                         f"{count} objection(s) to this proposal await an answer")


class ObjectionUpheld(Conflict):
    def __init__(self) -> None:
        super().__init__("objection_upheld",
                         "an objection to this proposal was upheld: it can only be rejected")


class LowerLevelNotApproved(Conflict):
    def __init__(self, level: str) -> None:
        super().__init__("lower_level_not_approved",
                         f"the same title must first be approved at {level} level")


class InitiativeAlreadyRewarded(Conflict):
    def __init__(self, ids: list[str]) -> None:
        super().__init__("initiative_already_rewarded",
                         f"initiative(s) {', '.join(ids)} already earned another award "
                         "(one achievement, one award)")


class ObjectionAlreadyAnswered(Conflict):
    def __init__(self, objection_id: str) -> None:
        super().__init__("objection_already_answered", f"{objection_id} is answered already",
                         field="objection_id")


class ReasonRequired(Invalid):
    def __init__(self) -> None:
        super().__init__("reason_required", "a rejection states its reason", field="reason")


@dataclass(frozen=True)
class ProposalState:
    proposal_id: str
    status: str
    issuer_unit_id: str
    disclosure_ends_at: datetime
    unanswered_objections: int
    upheld_objections: int
    lower_level: str | None  # the title's level below, when the pyramid requires it
    lower_approved: bool


def check_decidable(p: ProposalState, caller_unit: str | None, city_admin: bool) -> None:
    """The checks common to approving and rejecting."""
    if not city_admin and caller_unit != p.issuer_unit_id:
        raise NotIssuingUnit(p.issuer_unit_id)
    if p.status in ("approved", "rejected"):
        raise AlreadyDecided(p.proposal_id, p.status)
    if p.status != "proposed":
        raise NotWithinQuota(p.proposal_id, p.status)


def check_approvable(p: ProposalState, now: datetime) -> None:
    if now < p.disclosure_ends_at:
        raise DisclosureOpen(p.disclosure_ends_at)
    if p.unanswered_objections:
        raise ObjectionUnanswered(p.unanswered_objections)
    if p.upheld_objections:
        raise ObjectionUpheld()
    if p.lower_level is not None and not p.lower_approved:
        raise LowerLevelNotApproved(p.lower_level)


def lower_level(rules: AwardRules, title: str, level: str) -> str | None:
    rule = rules.title(title)
    if rule is None or not rules.higher_level_requires_lower or level not in rule.levels:
        return None
    index = rule.levels.index(level)
    return rule.levels[index - 1] if index else None


def cash_vnd(rules: AwardRules, title: str, level: str, base_salary_vnd: int) -> int:
    """The rule set's multiple of the base salary, to the đồng (half up)."""
    rule = rules.title(title)
    multiple = rule.cash_multiple.get(level, Decimal(0)) if rule else Decimal(0)
    return int((multiple * base_salary_vnd).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def decision_number(number: int, year: int, fmt: str = DECISION_NUMBER_FORMAT,
                    issuer: str = "") -> str:
    return fmt.format(number=number, year=year, issuer=issuer)

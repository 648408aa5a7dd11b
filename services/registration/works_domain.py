"""Works for plaques (gắn biển công trình), free of I/O: a unit registers a work or product it
carries out for an occasion; an upper union approves attaching its plaque, and the approval
becomes `thidua.work.registered.v1`, at the level of the approving union."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from contracts.events.base import Actor
from contracts.events.common import Vnd
from contracts.events.initiatives import WorkRegistered
from services.runtime.domain_errors import Conflict, Invalid, NotFound
from services.runtime.identifiers import Identifier

from .domain import COUNCIL_LEVEL
from .org_domain import COMMAND, CalendarDate, Name


class RegisterWork(BaseModel):
    """The body of `POST /works`."""

    model_config = COMMAND

    work_id: Identifier | None = Field(
        None, description="Chosen by the client so a retry cannot register twice; `wk-<uuid>` "
                          "when absent.")
    campaign_id: Identifier
    phase_id: Identifier
    unit_id: Identifier = Field(description="The unit carrying out the work.")
    name: Name = Field(description="e.g. `Nhà văn hóa công nhân khu công nghiệp Thăng Long`.")
    value_vnd: Vnd = Field(description="Value of the work, whole VND.")
    occasion: Name = Field(description="e.g. `Kỷ niệm 95 năm Ngày thành lập Công đoàn Việt "
                                       "Nam (28/7)`.")
    occasion_date: CalendarDate | None = None


class ApproveWork(BaseModel):
    """The body of `POST /works/{work_id}/approval`."""

    model_config = COMMAND

    approving_unit_id: Identifier | None = Field(
        None, description="The union attaching its plaque, above the work's unit; the caller's "
                          "unit by default (a city administrator names it).")
    comment: str | None = Field(None, max_length=2000)


class WorkExists(Conflict):
    def __init__(self, work_id: str) -> None:
        super().__init__("work_exists", f"work {work_id} was already registered",
                         field="work_id")


class WorkNotFound(NotFound):
    def __init__(self, work_id: str) -> None:
        super().__init__("work_not_found", f"no work {work_id} in your scope", field="work_id")


class WorkAlreadyApproved(Conflict):
    def __init__(self, work_id: str) -> None:
        super().__init__("work_already_approved", f"work {work_id} was already approved",
                         field="work_id")


class ApprovingUnitRequired(Invalid):
    def __init__(self) -> None:
        super().__init__("approving_unit_required", "a caller without a unit names the union "
                         "attaching its plaque in `approving_unit_id`", field="approving_unit_id")


class ApproverNotAbove(Invalid):
    def __init__(self, approver: str, unit_id: str) -> None:
        super().__init__("approver_not_above_unit", f"{approver} is not a union above {unit_id}, "
                         "whose work it would plaque", field="approving_unit_id")


def check_approver(approver: str, approver_chain_holds_unit: bool, unit_id: str) -> None:
    """A plaque is attached by a union above the work's unit, never by the unit itself."""
    if approver == unit_id or not approver_chain_holds_unit:
        raise ApproverNotAbove(approver, unit_id)


def new_work_id(command: RegisterWork) -> str:
    return command.work_id or f"wk-{uuid.uuid4()}"


def work_registered(work: dict, approver_kind: str, now: datetime,
                    actor: Actor) -> WorkRegistered:
    return WorkRegistered(
        actor=actor, work_id=work["work_id"], campaign_id=work["campaign_id"],
        phase_id=work["phase_id"], unit_id=work["unit_id"], name=work["name"],
        value_vnd=work["value_vnd"], occasion=work["occasion"],
        occasion_date=work["occasion_date"],
        plaque_level=COUNCIL_LEVEL.get(approver_kind, "grassroots"), registered_at=now)

"""The org directory's rules, free of I/O: commands on units and members with dated states, and
the events they become.

A unit or member has one state on any day. A change from a date D closes the period open at D
and opens a new one from D; what held before D is never rewritten. A change must be dated after
the latest recorded change of the same unit or member (`ChangeNotAfterLatest`, 409): there is
no insert-in-the-middle, so a correction of the past is a new change dated after the latest one.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from contracts.events.base import Actor
from contracts.events.common import Sector, UnitKind
from contracts.events.org import MemberRegistered, MemberUpdated, UnitRegistered, UnitUpdated
from services.runtime.domain_errors import Conflict, Invalid, NotFound
from services.runtime.identifiers import Identifier

COMMAND = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)

EARLIEST = date(1900, 1, 1)
LATEST = date(2100, 12, 31)
MAX_COUNT = 10_000_000
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # more members than Vietnam's whole confederation holds


def _calendar_date(text: object) -> date:
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise ValueError("a date as a JSON string YYYY-MM-DD")
    day = date.fromisoformat(text)
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"a date between {EARLIEST} and {LATEST}")
    return day


# A JSON string `YYYY-MM-DD` (strict bodies take no numbers for dates), a real calendar day.
CalendarDate = Annotated[date, BeforeValidator(_calendar_date)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


class RegisterUnit(BaseModel):
    """The body of `POST /units`."""

    model_config = COMMAND

    unit_id: Identifier
    name: Name
    kind: UnitKind
    parent_id: Identifier | None = Field(
        description="The parent unit from `effective_from` on; null only for a root, which only "
                    "a city administrator registers.")
    effective_from: CalendarDate = Field(description="Founding date, `YYYY-MM-DD`.")
    district_id: Identifier | None = Field(
        None, description="District (or ward) the unit belongs to; the parent's when absent, "
                          "null above the districts.")
    sector: Sector = "other"
    member_count: Count = 0
    direct_worker_count: Count = 0


class ChangeUnit(BaseModel):
    """The body of `POST /units/{unit_id}/changes`: the fields sent change from
    `effective_from` on; the others keep their value."""

    model_config = COMMAND

    effective_from: CalendarDate = Field(description="Date the change takes effect.")
    parent_id: Identifier | None = Field(None, description="Move under this unit.")
    district_id: Identifier | None = None
    name: Name | None = None
    sector: Sector | None = None
    member_count: Count | None = None
    direct_worker_count: Count | None = None
    status: Literal["dissolved"] | None = Field(None, description="`dissolved` closes the unit.")


class RegisterMember(BaseModel):
    """The body of `POST /members`."""

    model_config = COMMAND

    member_id: Identifier
    unit_id: Identifier
    full_name: Name
    gender: Literal["female", "male", "other"]
    direct_worker: bool = False
    union_officer: bool = False
    job_title: Name | None = None
    effective_from: CalendarDate = Field(description="Date the member joined, `YYYY-MM-DD`.")


class ChangeMember(BaseModel):
    """The body of `POST /members/{member_id}/changes`: a transfer (`unit_id`), an update, or
    `status: left`, from `effective_from` on."""

    model_config = COMMAND

    effective_from: CalendarDate
    unit_id: Identifier | None = Field(None, description="Transfer to this unit.")
    full_name: Name | None = None
    gender: Literal["female", "male", "other"] | None = None
    direct_worker: bool | None = None
    union_officer: bool | None = None
    job_title: Name | None = None
    status: Literal["left"] | None = None


# --- errors -----------------------------------------------------------------------------------

class UnitExists(Conflict):
    def __init__(self, unit_id: str) -> None:
        super().__init__("unit_exists", f"unit {unit_id} is already registered; record a change "
                         f"with POST /units/{unit_id}/changes", field="unit_id")


class MemberExists(Conflict):
    def __init__(self, member_id: str) -> None:
        super().__init__("member_exists", f"member {member_id} is already registered; record a "
                         f"change with POST /members/{member_id}/changes", field="member_id")


class ChangeNotAfterLatest(Conflict):
    def __init__(self, what: str, latest: date) -> None:
        super().__init__("change_not_after_latest",
                         f"{what} has a change from {latest}; a change must be dated after it "
                         "(history before a recorded change is never rewritten)",
                         field="effective_from")


class OrgUnitNotFound(NotFound):
    def __init__(self, unit_id: str, field: str = "unit_id") -> None:
        super().__init__("unit_not_found", f"no unit {unit_id} in your scope", field=field)


class OrgMemberNotFound(NotFound):
    def __init__(self, member_id: str) -> None:
        super().__init__("member_not_found", f"no member {member_id} in your scope",
                         field="member_id")


class NotActiveOn(Invalid):
    def __init__(self, unit_id: str, day: date, field: str) -> None:
        super().__init__("unit_not_active", f"unit {unit_id} has no active state on {day}",
                         field=field)


class Cycle(Invalid):
    def __init__(self, unit_id: str, parent_id: str) -> None:
        super().__init__("parent_cycle", f"unit {parent_id} lies in the subtree of {unit_id} "
                         "(or is the unit itself): a unit cannot move under itself",
                         field="parent_id")


class HasChildren(Invalid):
    def __init__(self, unit_id: str, day: date) -> None:
        super().__init__("unit_has_children", f"units lie under {unit_id} on {day} or later: "
                         "move them first (from the same date), then dissolve it",
                         field="status")


class RootNeedsCityAdmin(Invalid):
    def __init__(self) -> None:
        super().__init__("parent_required", "only a city administrator registers a unit "
                         "without a parent", field="parent_id")


class NothingChanged(Invalid):
    def __init__(self) -> None:
        super().__init__("nothing_changed", "the change sets every field to its current value",
                         field="effective_from")


class AlreadyClosed(Invalid):
    def __init__(self, what: str, status: str) -> None:
        super().__init__(f"already_{status}", f"{what} is {status}; it takes no more changes",
                         field="status")


class TooManyDirectWorkers(Invalid):
    def __init__(self) -> None:
        super().__init__("direct_workers_exceed_members",
                         "direct_worker_count cannot exceed member_count",
                         field="direct_worker_count")


# --- rules ------------------------------------------------------------------------------------

UNIT_FIELDS = ("parent_id", "district_id", "name", "sector", "member_count",
               "direct_worker_count", "status")
MEMBER_FIELDS = ("unit_id", "full_name", "gender", "direct_worker", "union_officer",
                 "job_title", "status")


def check_after_latest(what: str, latest: date, day: date) -> None:
    if day <= latest:
        raise ChangeNotAfterLatest(what, latest)


def unit_registered(command: RegisterUnit, district_id: str | None,
                    actor: Actor) -> UnitRegistered:
    if command.direct_worker_count > command.member_count:
        raise TooManyDirectWorkers()
    return UnitRegistered(
        actor=actor, unit_id=command.unit_id, name=command.name, kind=command.kind,
        parent_id=command.parent_id, effective_from=command.effective_from,
        district_id=district_id, sector=command.sector, member_count=command.member_count,
        direct_worker_count=command.direct_worker_count, status="active")


def unit_updated(unit_id: str, current: dict[str, Any], command: ChangeUnit,
                 actor: Actor) -> UnitUpdated:
    """The unit's new state from the change's date: `current` (its latest state) with the
    fields the command sent."""
    if current["status"] != "active":
        raise AlreadyClosed(f"unit {unit_id}", current["status"])
    sent = command.model_fields_set - {"effective_from"}
    new = {name: current[name] for name in UNIT_FIELDS}
    # A null sent for a field that cannot be null (a root stays a root) keeps its value.
    new.update({name: getattr(command, name) for name in sent
                if getattr(command, name) is not None or name == "district_id"})
    if new["direct_worker_count"] > new["member_count"]:
        raise TooManyDirectWorkers()
    changed = [name for name in UNIT_FIELDS if new[name] != current[name]]
    if not changed:
        raise NothingChanged()
    return UnitUpdated(
        actor=actor, unit_id=unit_id, kind=current["kind"], effective_from=command.effective_from,
        changed=changed,
        previous_parent_id=current["parent_id"] if "parent_id" in changed else None, **new)


def member_registered(command: RegisterMember, actor: Actor) -> MemberRegistered:
    return MemberRegistered(actor=actor, status="active", **command.model_dump())


def member_updated(member_id: str, current: dict[str, Any], command: ChangeMember,
                   actor: Actor) -> MemberUpdated:
    if current["status"] != "active":
        raise AlreadyClosed(f"member {member_id}", current["status"])
    sent = command.model_fields_set - {"effective_from"}
    new = {name: current[name] for name in MEMBER_FIELDS}
    new.update({name: getattr(command, name) for name in sent
                if getattr(command, name) is not None or name == "job_title"})
    changed = [name for name in MEMBER_FIELDS if new[name] != current[name]]
    if not changed:
        raise NothingChanged()
    return MemberUpdated(
        actor=actor, member_id=member_id, effective_from=command.effective_from, changed=changed,
        previous_unit_id=current["unit_id"] if "unit_id" in changed else None, **new)

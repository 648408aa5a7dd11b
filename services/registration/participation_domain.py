"""Participation, free of I/O: emulation registrations (đăng ký thi đua) of units and members,
pledges (giao ước thi đua) signed among the units of one cluster with their targets, and each
unit's results against them at the phase's end."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from contracts.events.base import Actor
from contracts.events.common import VND_MAX, Level, SubjectKind, Title
from contracts.events.participation import (
    EmulationRegistered,
    PledgeResultReported,
    PledgeSigned,
    PledgeTarget,
    TargetResult,
)
from services.runtime.domain_errors import Conflict, Invalid, NotFound
from services.runtime.identifiers import Identifier

from .org_domain import COMMAND, CalendarDate

Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Amount = Annotated[Decimal, Field(ge=0, le=VND_MAX, max_digits=20, decimal_places=4)]

# Titles a collective earns, and titles only a person earns (Law arts. 21 to 27); a certificate
# of merit (bằng khen, giấy khen) goes to either.
UNIT_TITLES = frozenset({"emulation_flag"})
MEMBER_TITLES = frozenset({"good_worker", "creative_labour", "good_at_work_and_home",
                           "good_deeds", "outstanding_officer", "exemplary_family"})


def _distinct(values: list, what: str) -> list:
    if len(set(values)) != len(values):
        raise ValueError(f"each {what} may appear once")
    return values


class RegisterForEmulation(BaseModel):
    """The body of `POST /registrations`."""

    model_config = COMMAND

    registration_id: Identifier | None = Field(
        None, description="Chosen by the client so a retry cannot register twice; "
                          "`reg-<uuid>` when absent.")
    campaign_id: Identifier
    phase_id: Identifier
    subject_kind: SubjectKind = Field(description="`unit` (a collective) or `member`.")
    subject_id: Identifier = Field(description="The unit's or the member's id.")
    titles: list[Title] = Field(min_length=1, max_length=8)
    target_level: Level = Field("grassroots", description="Highest level aimed for.")

    @field_validator("titles")
    @classmethod
    def _titles(cls, value: list[str]) -> list[str]:
        return _distinct(value, "title")


class TargetIn(BaseModel):
    model_config = COMMAND

    target_id: Identifier
    description: Text = Field(description="e.g. `Mỗi đoàn viên có ít nhất 1 sáng kiến`.")
    target_value: Amount = Field(description="A JSON number or a decimal string, e.g. `10`.")
    unit_of_measure: Annotated[str, StringConstraints(min_length=1, max_length=50)] = Field(
        description="e.g. `sáng kiến`, `%`, `VND`.")

    @field_validator("target_value", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        return _decimal(value)


class SignPledge(BaseModel):
    """The body of `POST /pledges`."""

    model_config = COMMAND

    pledge_id: Identifier | None = Field(
        None, description="Chosen by the client so a retry cannot sign twice; `pl-<uuid>` "
                          "when absent.")
    campaign_id: Identifier
    phase_id: Identifier
    cluster_id: Identifier
    unit_ids: list[Identifier] | None = Field(
        None, min_length=2, max_length=100,
        description="The signing units, all of the cluster's; every unit of it when absent.")
    targets: list[TargetIn] = Field(min_length=1, max_length=50)
    signed_on: CalendarDate | None = Field(None, description="Today when absent; not later.")

    @field_validator("unit_ids")
    @classmethod
    def _units(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _distinct(value, "unit")

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[TargetIn]) -> list[TargetIn]:
        _distinct([t.target_id for t in value], "target_id")
        return value


class ResultIn(BaseModel):
    model_config = COMMAND

    target_id: Identifier
    achieved_value: Amount

    @field_validator("achieved_value", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        return _decimal(value)


class ReportResults(BaseModel):
    """The body of `POST /pledges/{pledge_id}/results`."""

    model_config = COMMAND

    unit_id: Identifier = Field(description="The signing unit reporting.")
    results: list[ResultIn] = Field(min_length=1, max_length=50)

    @field_validator("results")
    @classmethod
    def _once(cls, value: list[ResultIn]) -> list[ResultIn]:
        _distinct([r.target_id for r in value], "target_id")
        return value


def _decimal(value: object) -> object:
    """Strict bodies take a JSON number or a decimal string for an amount, never a boolean."""
    if isinstance(value, bool):
        raise ValueError("a number")
    if isinstance(value, int | float | str):
        try:
            return Decimal(str(value).strip())
        except ArithmeticError:
            raise ValueError("a decimal number such as 10 or 12.5") from None
    return value


class TitleNotForSubject(Invalid):
    def __init__(self, title: str, kind: str) -> None:
        super().__init__("title_not_for_subject", f"the title {title} is not awarded to a {kind}",
                         field="titles")


class TitleWomenOnly(Invalid):
    def __init__(self, member_id: str) -> None:
        super().__init__("title_women_only", "good_at_work_and_home is for women members; "
                         f"{member_id} is not recorded as one", field="titles")


class AlreadyRegistered(Conflict):
    def __init__(self, kind: str, subject_id: str, phase_id: str) -> None:
        super().__init__("already_registered", f"{kind} {subject_id} has already registered "
                         f"for phase {phase_id}", field="subject_id")


class RegistrationExists(Conflict):
    def __init__(self, registration_id: str) -> None:
        super().__init__("registration_exists", f"registration {registration_id} exists",
                         field="registration_id")


class PledgeExists(Conflict):
    def __init__(self, pledge_id: str) -> None:
        super().__init__("pledge_exists", f"pledge {pledge_id} was already signed",
                         field="pledge_id")


class PledgeNotFound(NotFound):
    def __init__(self, pledge_id: str) -> None:
        super().__init__("pledge_not_found", f"no pledge {pledge_id} in your scope",
                         field="pledge_id")


class NotInCluster(Invalid):
    def __init__(self, unit_ids: list[str], cluster_id: str) -> None:
        super().__init__("unit_not_in_cluster", f"{', '.join(unit_ids)} not in cluster "
                         f"{cluster_id}", field="unit_ids")


class ClusterYearMismatch(Invalid):
    def __init__(self, cluster_id: str, year: int, campaign_year: int) -> None:
        super().__init__("cluster_year_mismatch", f"cluster {cluster_id} is formed for {year}, "
                         f"the campaign runs in {campaign_year}", field="cluster_id")


class SignedInFuture(Invalid):
    def __init__(self, day: date) -> None:
        super().__init__("signed_on_in_future", f"a pledge is recorded once signed, not before "
                         f"{day}", field="signed_on")


class NotSignatory(Invalid):
    def __init__(self, unit_id: str, pledge_id: str) -> None:
        super().__init__("unit_not_signatory", f"unit {unit_id} did not sign pledge {pledge_id}",
                         field="unit_id")


class ResultsIncomplete(Invalid):
    def __init__(self, missing: list[str], unknown: list[str]) -> None:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"no target {', '.join(unknown)} in the pledge"] if unknown else [])
        super().__init__("results_mismatch", "one result per pledged target: " +
                         "; ".join(parts), field="results")


class ResultsAlreadyReported(Conflict):
    def __init__(self, pledge_id: str, unit_id: str) -> None:
        super().__init__("results_already_reported", f"unit {unit_id} already reported its "
                         f"results for pledge {pledge_id}", field="unit_id")


def check_titles(command: RegisterForEmulation, gender: str | None) -> None:
    wrong = MEMBER_TITLES if command.subject_kind == "unit" else UNIT_TITLES
    for title in command.titles:
        if title in wrong:
            raise TitleNotForSubject(title, command.subject_kind)
    if "good_at_work_and_home" in command.titles and gender != "female":
        raise TitleWomenOnly(command.subject_id)


def emulation_registered(command: RegisterForEmulation, unit_id: str, now: datetime,
                         actor: Actor) -> EmulationRegistered:
    return EmulationRegistered(
        actor=actor, registration_id=command.registration_id or f"reg-{uuid.uuid4()}",
        campaign_id=command.campaign_id, phase_id=command.phase_id, unit_id=unit_id,
        subject_kind=command.subject_kind, subject_id=command.subject_id,
        titles=list(command.titles), target_level=command.target_level, registered_at=now)


def signing_units(command: SignPledge, cluster_id: str, members: list[str]) -> list[str]:
    units = command.unit_ids or list(members)
    outside = [u for u in units if u not in members]
    if outside:
        raise NotInCluster(outside, cluster_id)
    return units


def pledges_signed(command: SignPledge, units: list[str], today: date,
                   actor: Actor) -> list[PledgeSigned]:
    """One event per signing unit (each on its own unit's partition), one pledge id."""
    signed_on = command.signed_on or today
    if signed_on > today:
        raise SignedInFuture(today)
    pledge_id = command.pledge_id or f"pl-{uuid.uuid4()}"
    targets = [PledgeTarget(**t.model_dump()) for t in command.targets]
    return [PledgeSigned(actor=actor, pledge_id=pledge_id, campaign_id=command.campaign_id,
                         phase_id=command.phase_id, unit_id=unit, cluster_id=command.cluster_id,
                         counterpart_unit_ids=[u for u in units if u != unit], targets=targets,
                         signed_on=signed_on) for unit in units]


def results_reported(pledge: dict, command: ReportResults, now: datetime,
                     actor: Actor) -> PledgeResultReported:
    """A target counts as met when the value achieved reaches the value pledged."""
    targets = {t["target_id"]: Decimal(str(t["target_value"])) for t in pledge["targets"]}
    sent = {r.target_id: r.achieved_value for r in command.results}
    missing = [t for t in targets if t not in sent]
    unknown = [t for t in sent if t not in targets]
    if missing or unknown:
        raise ResultsIncomplete(missing, unknown)
    return PledgeResultReported(
        actor=actor, pledge_id=pledge["pledge_id"], campaign_id=pledge["campaign_id"],
        phase_id=pledge["phase_id"], unit_id=command.unit_id, reported_at=now,
        results=[TargetResult(target_id=t, achieved_value=sent[t], met=sent[t] >= goal)
                 for t, goal in targets.items()])

"""Campaigns and their phase windows, free of I/O: a launch becomes `thidua.campaign.launched.v1`,
and every command that names a phase is let in only while the phase is open.

A phase takes **entries** (initiatives, registrations, pledges, works) from its first to its
last day, and **reckoning** (council reviews, pledge results, approvals of works) from its
first day until it is closed, since councils sit and results are counted after the last day
(the sơ kết). A closed phase takes nothing (DESIGN.md, "Nothing is accepted into a closed
phase"); the close is refused while reviews are pending, so nothing is left stranded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationError, model_validator

from contracts.events.base import Actor
from contracts.events.campaigns import CampaignLaunched, Phase
from contracts.events.common import PhaseKind
from contracts.events.rules import AwardRules, ScoringRules
from services.runtime.domain_errors import Conflict, Invalid, NotFound
from services.runtime.identifiers import Identifier

from .org_domain import COMMAND, CalendarDate

Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Window = Literal["entries", "reckoning"]
MAX_PHASES = 12


class PhaseIn(BaseModel):
    model_config = COMMAND

    phase_id: Identifier
    name: Text = Field(description="e.g. `Đợt 1`, `Đợt cao điểm 90 ngày`.")
    starts_on: CalendarDate
    ends_on: CalendarDate
    kind: PhaseKind = Field("regular", description="`peak` for a 90-day anniversary drive.")
    theme: Text | None = None
    occasion: Text | None = Field(
        None, description="e.g. `28/7 — Ngày thành lập Công đoàn Việt Nam`.")


class LaunchCampaign(BaseModel):
    """The body of `POST /campaigns`."""

    model_config = COMMAND

    campaign_id: Identifier | None = Field(
        None, description="Chosen by the client so a retry cannot launch twice; `cmp-<uuid>` "
                          "when absent.")
    organizer_unit_id: Identifier = Field(
        description="The launching unit; the campaign reaches the units below it.")
    year: int = Field(ge=2000, le=2100)
    theme: Text
    movements: list[Text] = Field(default_factory=list, max_length=20)
    phases: list[PhaseIn] = Field(min_length=1, max_length=MAX_PHASES,
                                  description="In chronological order, not overlapping, each "
                                              "touching the campaign's year.")
    scoring: dict[str, Any] | None = Field(
        None, description="A scoring rule set (`contracts.events.rules.ScoringRules`); the "
                          "defaults when absent.")
    awards: dict[str, Any] | None = Field(
        None, description="An award rule set (`contracts.events.rules.AwardRules`); the "
                          "defaults when absent.")

    @model_validator(mode="after")
    def _phases_in_order(self) -> LaunchCampaign:
        seen: set[str] = set()
        for i, phase in enumerate(self.phases):
            if phase.phase_id in seen:
                raise ValueError(f"phases[{i}].phase_id {phase.phase_id} is repeated")
            seen.add(phase.phase_id)
            if phase.ends_on < phase.starts_on:
                raise ValueError(f"phases[{i}] ends before it starts")
            if not phase.starts_on.year <= self.year <= phase.ends_on.year:
                raise ValueError(f"phases[{i}] does not touch the year {self.year}")
            if i and phase.starts_on <= self.phases[i - 1].ends_on:
                raise ValueError(f"phases[{i}] starts before phases[{i - 1}] ends")
        if len(set(self.movements)) != len(self.movements):
            raise ValueError("each movement may appear once")
        return self


class RulesInvalid(Invalid):
    def __init__(self, field: str, message: str) -> None:
        super().__init__("rules_invalid", message, field=field)


def rule_sets(command: LaunchCampaign) -> tuple[ScoringRules, AwardRules]:
    """The campaign's rule sets, validated against the contracts' models."""
    out = []
    for name, model in (("scoring", ScoringRules), ("awards", AwardRules)):
        try:
            out.append(model.model_validate(getattr(command, name) or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in (name, *first["loc"]))
            raise RulesInvalid(where, f"{where}: {first['msg']}") from None
    return out[0], out[1]


def campaign_launched(command: LaunchCampaign, now: datetime, actor: Actor) -> CampaignLaunched:
    scoring, awards = rule_sets(command)
    return CampaignLaunched(
        actor=actor, campaign_id=command.campaign_id or f"cmp-{uuid.uuid4()}",
        organizer_unit_id=command.organizer_unit_id, year=command.year, theme=command.theme,
        movements=list(command.movements),
        phases=[Phase(**p.model_dump()) for p in command.phases],
        scoring=scoring, awards=awards, launched_at=now)


@dataclass(frozen=True, slots=True)
class PhaseDates:
    phase_id: str
    name: str
    starts_on: date
    ends_on: date


@dataclass(frozen=True, slots=True)
class CampaignReach:
    """What commands need of a campaign, which never changes once launched (cacheable)."""

    campaign_id: str
    organizer_unit_id: str
    year: int
    phases: dict[str, PhaseDates]


class CampaignExists(Conflict):
    def __init__(self, campaign_id: str) -> None:
        super().__init__("campaign_exists", f"campaign {campaign_id} was already launched",
                         field="campaign_id")


class OrganizerNotActive(Invalid):
    def __init__(self, unit_id: str) -> None:
        super().__init__("unit_not_active", f"unit {unit_id} is dissolved and launches nothing",
                         field="organizer_unit_id")


class CampaignNotFound(NotFound):
    def __init__(self, campaign_id: str) -> None:
        super().__init__("campaign_not_found", f"no campaign {campaign_id} in your scope",
                         field="campaign_id")


class PhaseNotInCampaign(Invalid):
    def __init__(self, campaign_id: str, phase_id: str) -> None:
        super().__init__("phase_not_found", f"campaign {campaign_id} has no phase {phase_id}",
                         field="phase_id")


class UnitOutsideCampaign(Invalid):
    def __init__(self, unit_id: str, campaign: CampaignReach, field: str = "unit_id") -> None:
        super().__init__("unit_outside_campaign", f"unit {unit_id} does not lie under "
                         f"{campaign.organizer_unit_id}, which launched campaign "
                         f"{campaign.campaign_id}", field=field)


class UnitNotActive(Invalid):
    def __init__(self, unit_id: str, field: str = "unit_id") -> None:
        super().__init__("unit_not_active", f"unit {unit_id} is dissolved and takes part in no "
                         "campaign", field=field)


class PhaseClosed(Conflict):
    def __init__(self, campaign_id: str, phase_id: str) -> None:
        super().__init__("phase_closed", f"phase {phase_id} of campaign {campaign_id} is "
                         "closed and accepts nothing more", field="phase_id")


class PhaseNotStarted(Conflict):
    def __init__(self, campaign_id: str, phase: PhaseDates) -> None:
        super().__init__("phase_not_started", f"phase {phase.phase_id} ({phase.name}) of "
                         f"campaign {campaign_id} opens on {phase.starts_on}", field="phase_id")


class PhaseEnded(Conflict):
    def __init__(self, campaign_id: str, phase: PhaseDates) -> None:
        super().__init__("phase_ended", f"phase {phase.phase_id} ({phase.name}) of campaign "
                         f"{campaign_id} took entries until {phase.ends_on}", field="phase_id")


def phase_of(campaign: CampaignReach, phase_id: str) -> PhaseDates:
    phase = campaign.phases.get(phase_id)
    if phase is None:
        raise PhaseNotInCampaign(campaign.campaign_id, phase_id)
    return phase


def check_window(campaign: CampaignReach, phase_id: str, day: date, window: Window,
                 closed: bool = False) -> PhaseDates:
    """The phase, if it takes a command of this window on `day` (a Vietnamese date)."""
    phase = phase_of(campaign, phase_id)
    if closed:
        raise PhaseClosed(campaign.campaign_id, phase_id)
    if day < phase.starts_on:
        raise PhaseNotStarted(campaign.campaign_id, phase)
    if window == "entries" and day > phase.ends_on:
        raise PhaseEnded(campaign.campaign_id, phase)
    return phase

"""Campaign events, produced by registration on `thidua.campaigns.v1` (key: campaign id)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    model_validator,
)

from contracts.events.base import CommandEventData
from contracts.events.common import PhaseKind
from contracts.events.rules import AwardRules, ScoringRules
from contracts.topics import CAMPAIGNS

EventTypeName = Annotated[str, StringConstraints(pattern=r"^thidua(\.[a-z_]+)+\.v[0-9]+$")]


class Phase(BaseModel):
    """One phase (đợt thi đua) of a campaign; nothing is accepted into it once closed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    phase_id: str = Field(min_length=1, description="Id of the phase, unique in the campaign.")
    name: str = Field(min_length=1, description="Name, e.g. `Đợt 1` or `Đợt cao điểm 90 ngày`.")
    starts_on: date = Field(description="First day of the phase (inclusive).")
    ends_on: date = Field(description="Last day of the phase (inclusive).")
    kind: PhaseKind = Field("regular", description="`peak` for a short anniversary drive.")
    theme: str | None = Field(None, description="Theme of this phase, if it has its own.")
    occasion: str | None = Field(
        None, description="Occasion celebrated, e.g. `28/7 — Ngày thành lập Công đoàn Việt Nam`."
    )

    @model_validator(mode="after")
    def _ends_after_start(self) -> Phase:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class CampaignLaunched(CommandEventData):
    """A campaign (kế hoạch thi đua) launched by a unit, with its phases and rule sets."""

    event_type: ClassVar[str] = "thidua.campaign.launched.v1"
    topic = CAMPAIGNS
    key_field: ClassVar[str] = "campaign_id"

    campaign_id: str = Field(min_length=1, description="Id of the campaign.")
    organizer_unit_id: str = Field(min_length=1, description="Unit that launched the campaign.")
    year: int = Field(ge=2000, le=2100, description="Emulation year.")
    theme: str = Field(min_length=1, description="Theme (chủ đề thi đua) of the campaign.")
    movements: list[str] = Field(
        default_factory=list,
        description="Movements it runs, e.g. `Lao động giỏi, lao động sáng tạo`.",
    )
    phases: list[Phase] = Field(min_length=1, description="Phases in chronological order.")
    scoring: ScoringRules = Field(
        default_factory=ScoringRules, description="How events turn into points."
    )
    awards: AwardRules = Field(
        default_factory=AwardRules, description="Titles, levels, prerequisites and quotas."
    )
    launched_at: AwareDatetime = Field(
        description="When the campaign was launched."
    )

    @model_validator(mode="after")
    def _phase_ids_unique(self) -> CampaignLaunched:
        ids = [phase.phase_id for phase in self.phases]
        if len(ids) != len(set(ids)):
            raise ValueError("phase ids must be unique within a campaign")
        return self


class PhaseClosed(CommandEventData):
    """A phase closed (sơ kết / tổng kết): the barrier before standings are finalized.

    `accepted_counts` lets a consumer know it has seen everything: it counts, per event type,
    every event registration committed for this phase before the close (events whose
    `data.phase_id` is this phase). Those events travel on other topics and partitions than
    this one, so a consumer finalizes only once its own applied counts for the phase reach
    these numbers for the types it consumes. No event for the phase is accepted after it.
    """

    event_type: ClassVar[str] = "thidua.phase.closed.v1"
    topic = CAMPAIGNS
    key_field: ClassVar[str] = "campaign_id"

    campaign_id: str = Field(min_length=1, description="Id of the campaign.")
    phase_id: str = Field(min_length=1, description="Id of the phase that closed.")
    closed_at: AwareDatetime = Field(description="When the phase was closed.")
    closed_by_unit_id: str = Field(min_length=1, description="Unit whose official closed it.")
    accepted_counts: dict[EventTypeName, NonNegativeInt] = Field(
        description="Per event type (e.g. `thidua.initiative.submitted.v1`), how many events "
        "for this phase were accepted before the close; types with none may be omitted."
    )
    last_outbox_sequence: int | None = Field(
        None,
        ge=0,
        description="Sequence number of registration's last outbox entry committed before the "
        "close; a diagnostic for operators, counts are the contract.",
    )

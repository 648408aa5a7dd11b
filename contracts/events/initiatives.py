"""Initiative and work events, produced by registration on `thidua.initiatives.v1` (key: unit)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.events.base import CommandEventData
from contracts.events.common import Grade, Level, Vnd
from contracts.topics import INITIATIVES


class InitiativeAuthor(BaseModel):
    """An author of an initiative; authors share its credit."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    member_id: str = Field(min_length=1, description="Id of the member.")
    full_name: str = Field(min_length=1, description="Full name, e.g. `Nguyễn Thị Thu Hà`.")
    direct_worker: bool = Field(description="True for a direct-production worker.")


class InitiativeSubmitted(CommandEventData):
    """An initiative (sáng kiến, cải tiến kỹ thuật, giải pháp hữu ích) submitted by a unit."""

    event_type: ClassVar[str] = "thidua.initiative.submitted.v1"
    topic = INITIATIVES

    initiative_id: str = Field(min_length=1, description="Id of the initiative.")
    campaign_id: str = Field(min_length=1, description="Campaign it is submitted to.")
    phase_id: str = Field(min_length=1, description="Phase it is accepted into.")
    unit_id: str = Field(min_length=1, description="Grassroots unit submitting (the record key).")
    title: str = Field(min_length=1, description="Title of the initiative.")
    field: str = Field(min_length=1, description="Field, e.g. `kỹ thuật`, `quản lý`, `giáo dục`.")
    authors: list[InitiativeAuthor] = Field(min_length=1, description="Its authors.")
    claimed_benefit_vnd: Vnd = Field(
        description="Economic benefit (giá trị làm lợi) claimed by the authors, in VND."
    )
    submitted_at: AwareDatetime = Field(description="When the submission was accepted.")


class InitiativeReviewed(CommandEventData):
    """A council's decision on an initiative: accepted at a level with a grade, or rejected."""

    event_type: ClassVar[str] = "thidua.initiative.reviewed.v1"
    topic = INITIATIVES

    initiative_id: str = Field(min_length=1, description="Id of the initiative reviewed.")
    campaign_id: str = Field(min_length=1, description="Campaign of the initiative.")
    phase_id: str = Field(min_length=1, description="Phase of the initiative.")
    unit_id: str = Field(min_length=1, description="Unit that submitted it (the record key).")
    outcome: Literal["accepted", "rejected"] = Field(description="The council's decision.")
    level: Level = Field(description="Level of the reviewing council (recognition level).")
    grade: Grade | None = Field(None, description="Grade; required when accepted.")
    recognised_benefit_vnd: Vnd = Field(
        0, description="Benefit the council recognised, in VND; summed per unit and district."
    )
    council_unit_id: str = Field(min_length=1, description="Unit whose council reviewed it.")
    reason: str | None = Field(None, description="The council's reasons, notably for rejection.")
    reviewed_at: AwareDatetime = Field(description="When the decision was recorded.")

    @model_validator(mode="after")
    def _accepted_has_grade(self) -> InitiativeReviewed:
        if self.outcome == "accepted" and self.grade is None:
            raise ValueError("an accepted initiative needs a grade")
        if self.outcome == "rejected" and self.recognised_benefit_vnd:
            raise ValueError("a rejected initiative has no recognised benefit")
        return self


class WorkRegistered(CommandEventData):
    """A work or product registered for a commemorative plaque (gắn biển công trình)."""

    event_type: ClassVar[str] = "thidua.work.registered.v1"
    topic = INITIATIVES

    work_id: str = Field(min_length=1, description="Id of the work.")
    campaign_id: str = Field(min_length=1, description="Campaign it is registered in.")
    phase_id: str = Field(min_length=1, description="Phase it is accepted into.")
    unit_id: str = Field(min_length=1, description="Unit carrying out the work (the record key).")
    name: str = Field(min_length=1, description="Name of the work or product.")
    value_vnd: Vnd = Field(description="Value of the work, in VND.")
    occasion: str = Field(
        min_length=1, description="Occasion it celebrates, e.g. `Kỷ niệm 95 năm Ngày thành lập "
        "Công đoàn Việt Nam (28/7)`."
    )
    occasion_date: date | None = Field(None, description="Date of the occasion.")
    plaque_level: Level = Field(description="Level of the union attaching the plaque.")
    registered_at: AwareDatetime = Field(description="When the registration was accepted.")

"""Participation events, produced by registration on `thidua.participation.v1` (key: unit id)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.events.base import CommandEventData
from contracts.events.common import Level, SubjectKind, Title
from contracts.topics import PARTICIPATION


class EmulationRegistered(CommandEventData):
    """A unit or member registers (đăng ký thi đua) for titles in a campaign phase."""

    event_type: ClassVar[str] = "thidua.emulation.registered.v1"
    topic = PARTICIPATION

    registration_id: str = Field(min_length=1, description="Id of the registration.")
    campaign_id: str = Field(min_length=1, description="Campaign registered for.")
    phase_id: str = Field(min_length=1, description="Phase the registration is accepted into.")
    unit_id: str = Field(min_length=1, description="Unit registering, or the member's unit.")
    subject_kind: SubjectKind = Field(description="Whether a unit or one member registers.")
    subject_id: str = Field(min_length=1, description="Id of the unit or member registering.")
    titles: list[Title] = Field(default_factory=list, description="Titles aimed for.")
    target_level: Level = Field("grassroots", description="Highest level aimed for.")
    registered_at: AwareDatetime = Field(description="When the registration was accepted.")


class PledgeTarget(BaseModel):
    """One target (chỉ tiêu) of a pledge."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    target_id: str = Field(min_length=1, description="Id of the target, unique in the pledge.")
    description: str = Field(min_length=1, description="What is pledged, in Vietnamese.")
    target_value: Decimal = Field(ge=0, description="Value to reach, e.g. 10 initiatives.")
    unit_of_measure: str = Field(description="Unit of the value, e.g. `sáng kiến`, `%`, `VND`.")


class PledgeSigned(CommandEventData):
    """A unit signs an emulation pledge (ký giao ước thi đua) with targets, within a cluster."""

    event_type: ClassVar[str] = "thidua.pledge.signed.v1"
    topic = PARTICIPATION

    pledge_id: str = Field(min_length=1, description="Id of the pledge.")
    campaign_id: str = Field(min_length=1, description="Campaign the pledge belongs to.")
    phase_id: str = Field(min_length=1, description="Phase the pledge is accepted into.")
    unit_id: str = Field(min_length=1, description="Unit making the pledge (the record key).")
    cluster_id: str | None = Field(None, description="Cluster within which it was signed.")
    counterpart_unit_ids: list[str] = Field(
        default_factory=list, description="Other units that signed the same pledge."
    )
    targets: list[PledgeTarget] = Field(min_length=1, description="Targets pledged.")
    signed_on: date = Field(description="Date of signature.")


class TargetResult(BaseModel):
    """What a unit achieved against one pledged target."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    target_id: str = Field(min_length=1, description="Id of the pledged target.")
    achieved_value: Decimal = Field(ge=0, description="Value reached.")
    met: bool = Field(description="Whether the target counts as met (scores points).")


class PledgeResultReported(CommandEventData):
    """A unit reports its results against a pledge."""

    event_type: ClassVar[str] = "thidua.pledge.result_reported.v1"
    topic = PARTICIPATION

    pledge_id: str = Field(min_length=1, description="Id of the pledge.")
    campaign_id: str = Field(min_length=1, description="Campaign the pledge belongs to.")
    phase_id: str = Field(min_length=1, description="Phase the report is accepted into.")
    unit_id: str = Field(min_length=1, description="Unit reporting (the record key).")
    results: list[TargetResult] = Field(min_length=1, description="One result per target.")
    reported_at: AwareDatetime = Field(description="When the report was accepted.")

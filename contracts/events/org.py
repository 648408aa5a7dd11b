"""Org directory events, produced by registration on `thidua.org.v1` (key: unit id).

Units form a tree whose parent links carry an effective date: a reorganisation (such as the
2025 abolition of the district level) emits a `unit.updated` with a new parent from a date on,
and never rewrites what was true before it.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.events.base import CommandEventData
from contracts.events.common import Sector, UnitKind
from contracts.topics import ORG


class _UnitState(CommandEventData):
    """A unit's full state from `effective_from` on (event-carried state, easy to replay)."""

    unit_id: str = Field(min_length=1, description="Id of the unit, e.g. `u-dongda-0001`.")
    name: str = Field(min_length=1, description="Official name, e.g. `LĐLĐ quận Đống Đa`.")
    kind: UnitKind = Field(description="Rank of the union in the tree.")
    parent_id: str | None = Field(
        description="Id of the parent unit from `effective_from` on; null for the root."
    )
    effective_from: date = Field(description="Date from which this state and parent link hold.")
    district_id: str | None = Field(
        description="Id of the district (or ward) unit used for isolation; null above districts."
    )
    sector: Sector = Field(description="Sector block the unit belongs to.")
    member_count: int = Field(ge=0, description="Union members in the unit (for fair scoring).")
    direct_worker_count: int = Field(
        ge=0,
        description="Members who are direct-production workers; favoured when quotas bind.",
    )
    status: Literal["active", "dissolved"] = Field(
        "active", description="`dissolved` from `effective_from` on (merged or closed)."
    )

    @model_validator(mode="after")
    def _direct_workers_are_members(self) -> _UnitState:
        if self.direct_worker_count > self.member_count:
            raise ValueError("direct_worker_count cannot exceed member_count")
        return self


class UnitRegistered(_UnitState):
    event_type: ClassVar[str] = "thidua.unit.registered.v1"
    topic = ORG


class UnitUpdated(_UnitState):
    event_type: ClassVar[str] = "thidua.unit.updated.v1"
    topic = ORG

    changed: list[str] = Field(
        default_factory=list,
        description="Names of the fields that changed, e.g. `parent_id` for a move.",
    )
    previous_parent_id: str | None = Field(
        None, description="Parent before `effective_from` when the unit moved, else null."
    )


class _MemberState(CommandEventData):
    member_id: str = Field(min_length=1, description="Id of the member, e.g. `m-lt-0007`.")
    unit_id: str = Field(min_length=1, description="Id of the member's grassroots unit.")
    full_name: str = Field(min_length=1, description="Full name as it appears on awards.")
    gender: Literal["female", "male", "other"] = Field(
        description="Needed for titles reserved to women members (good_at_work_and_home)."
    )
    direct_worker: bool = Field(description="True for a direct-production worker.")
    union_officer: bool = Field(
        False, description="True for a union officer (eligible for outstanding_officer)."
    )
    job_title: str | None = Field(None, description="Position or trade, e.g. `giáo viên`.")
    effective_from: date = Field(description="Date from which this state holds.")
    status: Literal["active", "left"] = Field("active", description="`left` once gone.")


class MemberRegistered(_MemberState):
    event_type: ClassVar[str] = "thidua.member.registered.v1"
    topic = ORG


class MemberUpdated(_MemberState):
    event_type: ClassVar[str] = "thidua.member.updated.v1"
    topic = ORG

    changed: list[str] = Field(
        default_factory=list, description="Names of the fields that changed."
    )
    previous_unit_id: str | None = Field(
        None, description="Unit before `effective_from` when the member transferred, else null."
    )


class ClusterFormed(CommandEventData):
    """A cluster (cụm thi đua): units that compete with and pledge to each other."""

    event_type: ClassVar[str] = "thidua.cluster.formed.v1"
    topic = ORG
    key_field: ClassVar[str] = "organizer_unit_id"

    cluster_id: str = Field(min_length=1, description="Id of the cluster.")
    name: str = Field(min_length=1, description="Name, e.g. `Cụm thi đua số 3 khối giáo dục`.")
    organizer_unit_id: str = Field(
        min_length=1, description="Upper-level unit that formed the cluster (the record key)."
    )
    member_unit_ids: list[str] = Field(
        min_length=1, description="Units in the cluster (typically 5–11)."
    )
    year: int = Field(ge=2000, le=2100, description="Emulation year the cluster is formed for.")
    effective_from: date = Field(description="Date from which the cluster exists.")
    formed_at: AwareDatetime = Field(description="When the cluster was recorded.")

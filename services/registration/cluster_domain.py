"""Clusters (cụm thi đua), free of I/O: units of one organiser grouped for a year, to compete
and sign pledges among themselves; a forming becomes `thidua.cluster.formed.v1`."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from contracts.events.base import Actor
from contracts.events.org import ClusterFormed
from services.runtime.domain_errors import Conflict, Invalid, NotFound
from services.runtime.identifiers import Identifier

from .org_domain import COMMAND, CalendarDate, Name

# Far above any real cluster; the settings' bounds (5 to 11 by default) are checked after parsing.
MAX_LISTED = 100


class FormCluster(BaseModel):
    """The body of `POST /clusters`."""

    model_config = COMMAND

    cluster_id: Identifier | None = Field(
        None, description="Chosen by the client so a retry cannot form twice; `cl-<uuid>` when "
                          "absent.")
    name: Name = Field(description="e.g. `Cụm thi đua số 3 — khối giáo dục`.")
    organizer_unit_id: Identifier = Field(description="The upper unit grouping its units.")
    year: int = Field(ge=2000, le=2100)
    effective_from: CalendarDate | None = Field(
        None, description="From when the cluster exists; 1 January of `year` when absent.")
    member_unit_ids: list[Identifier] = Field(min_length=1, max_length=MAX_LISTED)

    @model_validator(mode="after")
    def _distinct_members(self) -> FormCluster:
        if len(set(self.member_unit_ids)) != len(self.member_unit_ids):
            raise ValueError("member_unit_ids: each unit may appear once")
        if self.organizer_unit_id in self.member_unit_ids:
            raise ValueError("member_unit_ids: the organiser is not one of its cluster's units")
        if self.effective_from is not None and self.effective_from.year != self.year:
            raise ValueError("effective_from must lie in `year`")
        return self

    @property
    def starts(self) -> date:
        return self.effective_from or date(self.year, 1, 1)


class ClusterSize(Invalid):
    def __init__(self, count: int, least: int, most: int) -> None:
        super().__init__("cluster_size", f"a cluster groups {least} to {most} units, not {count}",
                         field="member_unit_ids")


class NotUnderOrganizer(Invalid):
    def __init__(self, unit_ids: list[str], organizer: str, day: date) -> None:
        super().__init__("unit_not_under_organizer", f"on {day} {', '.join(unit_ids)} did not "
                         f"lie under {organizer}", field="member_unit_ids")


class InAnotherCluster(Conflict):
    def __init__(self, unit_id: str, cluster_id: str, year: int) -> None:
        super().__init__("unit_in_another_cluster", f"unit {unit_id} is already in cluster "
                         f"{cluster_id} of this organiser for {year}", field="member_unit_ids")


class ClusterExists(Conflict):
    def __init__(self, cluster_id: str) -> None:
        super().__init__("cluster_exists", f"cluster {cluster_id} was already formed",
                         field="cluster_id")


class ClusterNotFound(NotFound):
    def __init__(self, cluster_id: str, field: str = "cluster_id") -> None:
        super().__init__("cluster_not_found", f"no cluster {cluster_id} in your scope",
                         field=field)


def check_size(command: FormCluster, least: int, most: int) -> None:
    if not least <= len(command.member_unit_ids) <= most:
        raise ClusterSize(len(command.member_unit_ids), least, most)


def cluster_formed(command: FormCluster, now: datetime, actor: Actor) -> ClusterFormed:
    return ClusterFormed(
        actor=actor, cluster_id=command.cluster_id or f"cl-{uuid.uuid4()}", name=command.name,
        organizer_unit_id=command.organizer_unit_id,
        member_unit_ids=list(command.member_unit_ids), year=command.year,
        effective_from=command.starts, formed_at=now)

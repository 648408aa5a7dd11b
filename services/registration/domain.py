"""Registration's rules for commands, free of I/O: a valid command becomes an event payload.

Commands are strict: a JSON string is not a number, `true` is not 1, and a field the model
does not know is refused by name rather than silently dropped (a caller sending `is_admin`
learns it has no effect).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events.base import Actor
from contracts.events.common import Vnd
from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted
from services.runtime.domain_errors import Conflict, Invalid, NotFound
from services.runtime.identifiers import Identifier

# Trimmed before the length and pattern checks, so a title of spaces is refused like an empty one.
COMMAND = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)


class InitiativeAuthorIn(BaseModel):
    model_config = COMMAND

    member_id: Identifier
    full_name: str = Field(min_length=1, max_length=200)
    direct_worker: bool = False


class SubmitInitiative(BaseModel):
    """The body of `POST /initiatives`."""

    model_config = COMMAND

    campaign_id: Identifier
    phase_id: Identifier
    unit_id: Identifier
    district: Identifier | None = Field(
        None, description="Optional: the district (or ward) the caller believes the unit is in. "
                          "The event's district comes from the unit directory; a different "
                          "value here is refused.")
    title: str = Field(min_length=3, max_length=500)
    field: str = Field(min_length=1, max_length=100, description="e.g. kỹ thuật, quản lý")
    authors: list[InitiativeAuthorIn] = Field(min_length=1, max_length=50)
    claimed_benefit_vnd: Vnd = Field(description="Claimed benefit in VND, 0 to 10¹⁵")
    initiative_id: Identifier | None = Field(
        None, description="Chosen by the client so a retry cannot submit twice; `ini-<uuid>` "
                          "when absent.")

    @field_validator("authors")
    @classmethod
    def _authors_are_distinct(cls, authors: list[InitiativeAuthorIn]) -> list[InitiativeAuthorIn]:
        ids = [a.member_id for a in authors]
        if len(ids) != len(set(ids)):
            raise ValueError("each author may appear once")
        return authors


class InitiativeAlreadySubmitted(Conflict):
    def __init__(self, initiative_id: str) -> None:
        super().__init__("initiative_exists", f"initiative {initiative_id} was already submitted",
                         field="initiative_id")


class InitiativeNotFound(NotFound):
    def __init__(self, initiative_id: str) -> None:
        super().__init__("initiative_not_found", f"no initiative {initiative_id}",
                         field="initiative_id")


class UnitNotActive(Invalid):
    def __init__(self, unit_id: str) -> None:
        super().__init__("unit_dissolved", f"unit {unit_id} is dissolved; submit for the unit "
                         "that took over its members", field="unit_id")


class DistrictMismatch(Invalid):
    def __init__(self, unit_id: str, district: str | None) -> None:
        where = f"district {district}" if district else "no district (a city-level unit)"
        super().__init__("district_mismatch", f"unit {unit_id} belongs to {where}; leave "
                         "`district` out, it is taken from the directory", field="district")


class NotAnAuthor(Invalid):
    def __init__(self, member_id: str) -> None:
        super().__init__("member_not_author", f"a member submits only initiatives they author: "
                         f"add {member_id} to the authors, or ask the union to submit it",
                         field="authors")


def check_district(command: SubmitInitiative, unit_district: str | None) -> None:
    """The event's district is the directory's; a body naming another one is refused."""
    if command.district is not None and command.district != unit_district:
        raise DistrictMismatch(command.unit_id, unit_district)


def check_member_submits_own(command: SubmitInitiative, member_id: str) -> None:
    if member_id not in {a.member_id for a in command.authors}:
        raise NotAnAuthor(member_id)


def initiative_submitted(command: SubmitInitiative, now: datetime,
                         actor: Actor | None = None) -> InitiativeSubmitted:
    return InitiativeSubmitted(
        actor=actor,
        initiative_id=command.initiative_id or f"ini-{uuid.uuid4()}",
        campaign_id=command.campaign_id,
        phase_id=command.phase_id,
        unit_id=command.unit_id,
        title=command.title,
        field=command.field,
        authors=[InitiativeAuthor(**a.model_dump()) for a in command.authors],
        claimed_benefit_vnd=command.claimed_benefit_vnd,
        submitted_at=now,
    )

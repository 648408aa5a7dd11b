"""Registration's rules for commands, free of I/O: a valid command becomes an event payload.

Commands are strict: a JSON string is not a number, `true` is not 1, and a field the model
does not know is refused by name rather than silently dropped (a caller sending `is_admin`
learns it has no effect).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events.common import Vnd
from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted
from services.runtime.domain_errors import Conflict, NotFound
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
    district: Identifier = Field(description="District (or ward) of the unit")
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


def initiative_submitted(command: SubmitInitiative, now: datetime) -> InitiativeSubmitted:
    return InitiativeSubmitted(
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

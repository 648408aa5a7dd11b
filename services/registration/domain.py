"""Registration's rules for commands, free of I/O: a valid command becomes an event payload."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted


class InitiativeAuthorIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    member_id: str = Field(min_length=1, max_length=64)
    full_name: str = Field(min_length=1, max_length=200)
    direct_worker: bool = False


class SubmitInitiative(BaseModel):
    """The body of `POST /initiatives`."""

    # Trimmed before the length checks, so a title of spaces is refused like an empty one.
    model_config = ConfigDict(str_strip_whitespace=True)

    campaign_id: str = Field(min_length=1, max_length=64)
    phase_id: str = Field(min_length=1, max_length=64)
    unit_id: str = Field(min_length=1, max_length=64)
    district: str = Field(min_length=1, max_length=64, description="District (or ward) of the unit")
    title: str = Field(min_length=3, max_length=500)
    field: str = Field(min_length=1, max_length=100, description="e.g. kỹ thuật, quản lý")
    authors: list[InitiativeAuthorIn] = Field(min_length=1, max_length=50)
    claimed_benefit_vnd: int = Field(ge=0, le=10**15, description="Claimed benefit in VND")
    initiative_id: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("authors")
    @classmethod
    def _authors_are_distinct(cls, authors: list[InitiativeAuthorIn]) -> list[InitiativeAuthorIn]:
        ids = [a.member_id for a in authors]
        if len(ids) != len(set(ids)):
            raise ValueError("each author may appear once")
        return authors


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

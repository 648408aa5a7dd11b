"""Score events, produced by scoring on `thidua.scores.v1` (key: unit id)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.events.base import EventData
from contracts.events.common import Points, SubjectKind
from contracts.topics import SCORES


class ScoreChanged(EventData):
    """A unit's or member's score in a phase changed because of one source event.

    Points are exact decimals, serialized as JSON strings (`"12.5"`); readers accept numbers.
    """

    event_type: ClassVar[str] = "thidua.score.changed.v1"
    topic = SCORES

    unit_id: str = Field(
        min_length=1, description="Unit scored, or the member's unit (the record key)."
    )
    campaign_id: str = Field(min_length=1, description="Campaign the score belongs to.")
    phase_id: str = Field(min_length=1, description="Phase the score belongs to.")
    subject_kind: SubjectKind = Field(description="Whether the unit or one member is scored.")
    subject_id: str = Field(min_length=1, description="Id of the unit or member scored.")
    points_delta: Points = Field(description="Points added (negative when withdrawn).")
    total_points: Points = Field(description="The subject's phase total after this change.")
    reason: str = Field(
        min_length=1,
        description="Why, in snake_case: `initiative_submitted`, `initiative_accepted`, "
        "`pledge_target_met`, `work_registered`, `participation`, ...",
    )
    source_event_id: str = Field(
        min_length=1, description="Id of the event that caused the change (for explanations)."
    )
    subject_version: int | None = Field(
        None,
        ge=1,
        description="Version of the subject's score in this campaign phase: 1 for its first "
        "change, then one more for each change applied, so a higher version is a later total. "
        "Changes of one member travel on several partitions (keyed by unit) and may arrive out "
        "of order: keep the total of the highest version seen and ignore a lower one. When one "
        "event announces several changes of a batch, it carries the last one's version. Null "
        "in events recorded before versions were assigned.",
    )


class StandingEntry(BaseModel):
    """One ranked subject in finalized standings."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    rank: int = Field(ge=1, description="Rank, 1 is best; ties share a rank.")
    subject_kind: SubjectKind = Field(description="Unit or member.")
    subject_id: str = Field(min_length=1, description="Id of the unit or member.")
    total_points: Points = Field(description="Phase total.")
    ranking_points: Points = Field(
        description="Points used for ranking: the total, or per 100 members for units when the "
        "campaign's `unit_score_basis` is `per_100_members`."
    )
    member_count: int | None = Field(None, ge=0, description="Members of a ranked unit.")
    direct_worker: bool | None = Field(None, description="For a member: direct worker or not.")


class PhaseStandingsFinalized(EventData):
    """Final standings of one scope (a unit's members, a cluster, a district) for a phase.

    Emitted only after the phase-close barrier. A large scope may be split into chunks; a
    consumer has the whole scope once it has seen `chunk_count` chunks.
    """

    event_type: ClassVar[str] = "thidua.phase.standings_finalized.v1"
    topic = SCORES

    unit_id: str = Field(
        min_length=1,
        description="Unit heading the scope (the record key): the unit itself for its members, "
        "the cluster's organizer, or the district federation.",
    )
    campaign_id: str = Field(min_length=1, description="Campaign.")
    phase_id: str = Field(min_length=1, description="Phase finalized.")
    scope_kind: Literal["unit", "cluster", "district", "phase"] = Field(
        description="What is ranked: a unit's members, a cluster's units, a district's units; "
        "`phase` is the one event per phase that says the whole phase is final (its `scope_id` "
        "is the phase id, its `unit_id` the campaign's organizer, and it comes after every "
        "other standings event of the phase)."
    )
    scope_id: str = Field(min_length=1, description="Id of the unit, cluster or district.")
    entries: list[StandingEntry] = Field(description="Ranked subjects of this chunk.")
    chunk_index: int = Field(0, ge=0, description="Index of this chunk, from 0.")
    chunk_count: int = Field(1, ge=1, description="Number of chunks for this scope.")
    finalized_at: AwareDatetime = Field(description="When the standings were finalized.")
    score_changed_count: int | None = Field(
        None,
        ge=0,
        description="On the `phase` event: how many `thidua.score.changed.v1` events scoring "
        "emitted for this campaign phase, all before this one. A consumer of score changes "
        "(awards) acts on the final standings only once it has applied that many distinct "
        "score events of the phase; none are emitted for the phase afterwards.",
    )

    @model_validator(mode="after")
    def _chunk_in_range(self) -> PhaseStandingsFinalized:
        if self.chunk_index >= self.chunk_count:
            raise ValueError("chunk_index must be below chunk_count")
        return self

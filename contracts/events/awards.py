"""Award events, produced by awards on `thidua.awards.v1` (key: unit id)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import AwareDatetime, Field

from contracts.events.base import CommandEventData, EventData
from contracts.events.common import Level, Points, SubjectKind, Title, Vnd
from contracts.topics import AWARDS


class _AwardSubject(EventData):
    unit_id: str = Field(
        min_length=1, description="Unit concerned, or the member's unit (the record key)."
    )
    campaign_id: str = Field(min_length=1, description="Campaign.")
    subject_kind: SubjectKind = Field(description="Unit (collective) or member (individual).")
    subject_id: str = Field(min_length=1, description="Id of the unit or member.")
    title: Title = Field(description="Title concerned.")
    level: Level = Field(description="Level of the title.")


class AwardEligibilityChanged(_AwardSubject):
    """A subject became eligible, or stopped being eligible, for a title at a level."""

    event_type: ClassVar[str] = "thidua.award.eligibility_changed.v1"
    topic = AWARDS

    phase_id: str | None = Field(description="Phase, or null for a whole-campaign title.")
    eligible: bool = Field(description="Eligible from now on (true) or no longer (false).")
    reason: str = Field(
        min_length=1,
        description="Why, in snake_case: `min_points_reached`, `lower_level_missing`, ...",
    )


class AwardProposed(_AwardSubject, CommandEventData):
    """A subject proposed for a title within the level's quota (bình xét, suy tôn)."""

    event_type: ClassVar[str] = "thidua.award.proposed.v1"
    topic = AWARDS

    proposal_id: str = Field(min_length=1, description="Id of the proposal.")
    phase_id: str | None = Field(None, description="Phase, or null for a whole-campaign title.")
    subject_name: str = Field(min_length=1, description="Name of the unit or member.")
    issuer_unit_id: str = Field(min_length=1, description="Unit whose quota it counts against.")
    points: Points = Field(description="Points the proposal rests on.")
    quota: int | None = Field(None, ge=0, description="Quota of the title at this level, if any.")
    quota_rank: int = Field(ge=1, description="Rank among candidates for the quota.")
    tie_break: str | None = Field(
        None, description="Tie-breaker that decided, e.g. `direct_worker`, `small_collective`."
    )
    proposed_at: AwareDatetime = Field(description="When the proposal was made.")
    candidate_count: int | None = Field(
        None, ge=0, description="Candidates competing for the same quota (issuer or cluster).")
    cluster_id: str | None = Field(None, description="Cluster whose quota it counts against.")
    disclosure_ends_at: AwareDatetime | None = Field(
        None, description="End of the public disclosure period: objections are taken until "
        "then, and the proposal cannot be approved before.")


class AwardGranted(_AwardSubject, CommandEventData):
    """An award decision (quyết định khen thưởng), numbered and signed by an issuer.

    `unit_id` and `unit_parent_id` are frozen as they were at the decision: a later
    reorganisation of the tree does not move the award.
    """

    event_type: ClassVar[str] = "thidua.award.granted.v1"
    topic = AWARDS

    award_id: str = Field(min_length=1, description="Id of the award.")
    proposal_id: str | None = Field(None, description="Proposal it grants, if any.")
    phase_id: str | None = Field(None, description="Phase, or null for a whole-campaign title.")
    subject_name: str = Field(min_length=1, description="Name as printed on the award.")
    unit_parent_id: str | None = Field(
        None, description="Parent of `unit_id` on the decision date."
    )
    decision_number: str = Field(min_length=1, description="Decision number, e.g. `125/QĐ-LĐLĐ`.")
    decision_date: date = Field(description="Date of the decision.")
    issuer_unit_id: str = Field(min_length=1, description="Unit issuing the decision.")
    issuer_name: str = Field(min_length=1, description="Issuer, e.g. `LĐLĐ quận Đống Đa`.")
    granted_at: AwareDatetime = Field(description="When the decision was recorded.")
    decision_id: str | None = Field(None, description="Id of the decision (several recipients "
                                    "may share one decision).")
    signatory: str | None = Field(None, description="Who signed the decision.")
    cash_amount_vnd: Vnd | None = Field(
        None, description="Cash reward to this recipient: the rule set's multiple of the base "
        "salary for the title and level.")
    consumed_initiative_ids: list[str] = Field(
        default_factory=list, description="Accepted initiatives this award rests on: they count "
        "for no other award (one achievement, one award).")

"""Registration's rules for commands, free of I/O: a valid command becomes an event payload.

Commands are strict: a JSON string is not a number, `true` is not 1, and a field the model
does not know is refused by name rather than silently dropped (a caller sending `is_admin`
learns it has no effect).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events.base import Actor
from contracts.events.common import Grade, Level, Vnd
from contracts.events.initiatives import InitiativeAuthor, InitiativeReviewed, InitiativeSubmitted
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


# The level of the council a unit holds, by the unit's kind: a grassroots union's council
# recognises at grassroots level, a ward/commune, zone, sector or district union's at district
# level, the city federation's at city level, the confederation's at national level.
COUNCIL_LEVEL: dict[str, Level] = {
    "grassroots_union": "grassroots",
    "upper_level_union": "district",
    "sector_union": "district",
    "district_federation": "district",
    "city_federation": "city",
    "confederation": "national",
}
LEVELS: tuple[Level, ...] = ("grassroots", "district", "city", "national")


class ReviewInitiative(BaseModel):
    """The body of `POST /initiatives/{initiative_id}/reviews`."""

    model_config = COMMAND

    outcome: Literal["accepted", "rejected"]
    level: Level = Field(description="The council's level; must be the level of the council's "
                                     "unit kind (grassroots union → grassroots; ward, zone, "
                                     "sector and district unions → district; city federation → "
                                     "city; confederation → national).")
    grade: Grade | None = Field(None, description="A, B or C; required when accepted.")
    recognised_benefit_vnd: Vnd = Field(0, description="At most the claimed benefit unless "
                                                       "`reason_for_higher_benefit` is given; 0 "
                                                       "when rejected.")
    reason_for_higher_benefit: str | None = Field(None, min_length=1, max_length=2000)
    comment: str | None = Field(None, max_length=4000)
    council_unit_id: Identifier | None = Field(
        None, description="The unit whose council decided; a council reviewer's own unit (the "
                          "default), an official's unit by default. A city administrator "
                          "names it.")


class GradeRequired(Invalid):
    def __init__(self) -> None:
        super().__init__("grade_required", "an accepted initiative needs a grade (A, B or C)",
                         field="grade")


class RejectedHasNoBenefit(Invalid):
    def __init__(self) -> None:
        super().__init__("rejected_has_benefit", "a rejected initiative has no recognised "
                         "benefit and no grade", field="recognised_benefit_vnd")


class BenefitAboveClaimed(Invalid):
    def __init__(self, claimed: int) -> None:
        super().__init__("benefit_above_claimed", f"the recognised benefit exceeds the claimed "
                         f"{claimed} VND; give `reason_for_higher_benefit`",
                         field="recognised_benefit_vnd")


class LevelMismatch(Invalid):
    def __init__(self, unit_id: str, kind: str, level: str) -> None:
        super().__init__("level_mismatch", f"the council of {unit_id} ({kind}) reviews at "
                         f"{COUNCIL_LEVEL.get(kind, 'no')} level, not {level}", field="level")


class CouncilUnitRequired(Invalid):
    def __init__(self) -> None:
        super().__init__("council_unit_required", "a caller without a unit names the council's "
                         "unit in `council_unit_id`", field="council_unit_id")


class NotOwnCouncil(Invalid):
    def __init__(self, unit_id: str) -> None:
        super().__init__("not_own_council", f"a council reviewer records only their own "
                         f"council's decisions, not {unit_id}'s", field="council_unit_id")


class AlreadyReviewed(Conflict):
    def __init__(self, initiative_id: str, level: str) -> None:
        super().__init__("already_reviewed_at_level", f"initiative {initiative_id} was already "
                         f"reviewed at {level} level", field="level")


class ReviewOutOfOrder(Conflict):
    def __init__(self, initiative_id: str, level: str, needed: str) -> None:
        super().__init__("lower_level_not_accepted", f"initiative {initiative_id} is reviewed "
                         f"at {level} level only after {needed}", field="level")


class InitiativeRejected(Conflict):
    def __init__(self, initiative_id: str, level: str) -> None:
        super().__init__("initiative_rejected", f"initiative {initiative_id} was rejected at "
                         f"{level} level and takes no further review", field="initiative_id")


def check_review_body(command: ReviewInitiative, claimed: int) -> None:
    if command.outcome == "accepted" and command.grade is None:
        raise GradeRequired()
    if command.outcome == "rejected" and (command.recognised_benefit_vnd or command.grade):
        raise RejectedHasNoBenefit()
    if command.recognised_benefit_vnd > claimed and not command.reason_for_higher_benefit:
        raise BenefitAboveClaimed(claimed)


def check_council_level(command: ReviewInitiative, council_unit_id: str, kind: str) -> None:
    if COUNCIL_LEVEL.get(kind) != command.level:
        raise LevelMismatch(council_unit_id, kind, command.level)


def check_review_order(initiative_id: str, own_level: Level, level: Level,
                       earlier: list[dict]) -> None:
    """Recognition climbs: the first review is by the council at the initiative's own unit's
    level (or above, for a unit with no council of its own kind); each later one at a higher
    level than the last, which must have accepted it. A rejection ends the climb."""
    rank = LEVELS.index
    for review in earlier:
        if review["level"] == level:
            raise AlreadyReviewed(initiative_id, level)
    for review in earlier:
        if review["outcome"] == "rejected":
            raise InitiativeRejected(initiative_id, review["level"])
    if not earlier:
        if rank(level) > rank(own_level):
            raise ReviewOutOfOrder(initiative_id, level,
                                   f"its acceptance at {own_level} level")
        return
    last = max(earlier, key=lambda r: rank(r["level"]))
    if rank(level) < rank(last["level"]):
        raise ReviewOutOfOrder(initiative_id, level,
                               f"no review above it (it was reviewed at {last['level']} level)")


def initiative_reviewed(initiative: dict, command: ReviewInitiative, council_unit_id: str,
                        now: datetime, actor: Actor) -> InitiativeReviewed:
    reason = command.comment
    if command.reason_for_higher_benefit:
        reason = "; ".join(filter(None, [command.comment, command.reason_for_higher_benefit]))
    return InitiativeReviewed(
        actor=actor, initiative_id=initiative["initiative_id"],
        campaign_id=initiative["campaign_id"], phase_id=initiative["phase_id"],
        unit_id=initiative["unit_id"], outcome=command.outcome, level=command.level,
        grade=command.grade, recognised_benefit_vnd=command.recognised_benefit_vnd,
        council_unit_id=council_unit_id, reason=reason, reviewed_at=now)


class CouncilNotOverUnit(Invalid):
    def __init__(self, council_unit_id: str, unit_id: str) -> None:
        super().__init__("council_not_over_unit", f"unit {unit_id} does not lie under "
                         f"{council_unit_id}, whose council cannot review it",
                         field="council_unit_id")

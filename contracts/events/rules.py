"""A campaign's scoring and award rule sets, carried by `campaign.launched`.

Every field has a default, so a campaign launched without rules gets the federation's usual
ones; consumers apply the rules of the campaign an event belongs to, never global settings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from contracts.events.common import Grade, Level, Points, SubjectKind, Title


def _initiative_points() -> dict[Level, dict[Grade, Decimal]]:
    # Each level up roughly doubles the points: a city-level A is worth four grassroots As.
    base = {"A": Decimal(10), "B": Decimal(7), "C": Decimal(5)}
    factors = {"grassroots": 1, "district": 2, "city": 4, "national": 8}
    return {level: {g: p * f for g, p in base.items()} for level, f in factors.items()}


class _Rules(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


MAX_RULE_POINTS = Decimal(1_000_000)


def _within_bounds(points: Decimal) -> Decimal:
    if abs(points) > MAX_RULE_POINTS:
        raise ValueError(f"points must lie within ±{MAX_RULE_POINTS}")
    return points


# A price in a rule set: a million points either way is far beyond any real rule.
RulePoints = Annotated[Points, AfterValidator(_within_bounds)]


class ScoringRules(_Rules):
    initiative_points: dict[Level, dict[Grade, RulePoints]] = Field(
        default_factory=_initiative_points,
        description="Points for an accepted initiative by recognition level and grade.",
    )
    pledge_target_met_points: RulePoints = Field(
        Decimal(5), description="Points for each pledge target reported as met."
    )
    plaqued_work_points: RulePoints = Field(
        Decimal(15), description="Points for each work registered for a plaque."
    )
    participation_points: RulePoints = Field(
        Decimal(2), description="Points for registering for emulation (participation)."
    )
    unit_score_basis: Literal["total", "per_100_members", "shrunk_per_100_members",
                              "beat_pledge"] = Field(
        "per_100_members",
        description="How units are ranked: raw totals; points per 100 members so that "
        "small collectives compete fairly with large ones; `shrunk_per_100_members`, points "
        "per 100 members pulled towards the phase's mean rate by `shrinkage_members` "
        "imaginary average members, 100 × (points + k × mean) / (members + k), so a 5-member "
        "unit cannot top the city with one initiative; or `beat_pledge`, units that met every "
        "target they pledged first, by accepted initiatives (the \"one million initiatives\" "
        "programme's measure).",
    )
    shrinkage_members: int = Field(
        100, ge=0, le=1_000_000,
        description="k of `shrunk_per_100_members`: how many members' worth of the phase's "
        "mean rate every unit starts with (0 is plain per 100 members).",
    )


class TitleRule(_Rules):
    title: Title = Field(description="The title this rule governs.")
    subject_kind: SubjectKind = Field(description="Awarded to members or to units.")
    levels: list[Level] = Field(description="Levels at which the title can be awarded.")
    min_points: Points = Field(Decimal(0), description="Minimum phase points to be eligible.")
    min_accepted_initiatives: int = Field(
        0, ge=0, description="Minimum accepted initiatives to be eligible."
    )
    women_only: bool = Field(False, description="Reserved to women members.")
    officers_only: bool = Field(False, description="Reserved to union officers.")
    quotas: dict[Level, int] = Field(
        default_factory=dict,
        description="Maximum awards of this title per issuing unit at each level (absent: "
        "no cap). Quotas stop award inflation (khen thưởng tràn lan).",
    )
    per_cluster: bool = Field(
        False, description="Quotas count per cluster rather than per issuer (emulation flag)."
    )


def _member_title(title: Title, **kwargs) -> TitleRule:
    return TitleRule(title=title, subject_kind="member", levels=["grassroots", "district", "city"],
                     **kwargs)


def _default_titles() -> list[TitleRule]:
    return [
        _member_title("good_worker", min_points=Decimal(20), quotas={"district": 100, "city": 10}),
        _member_title("creative_labour", min_accepted_initiatives=1,
                      quotas={"district": 50, "city": 10}),
        _member_title("good_at_work_and_home", women_only=True,
                      quotas={"district": 50, "city": 5}),
        _member_title("good_deeds", quotas={"district": 100, "city": 10}),
        _member_title("outstanding_officer", officers_only=True,
                      quotas={"district": 20, "city": 5}),
        # The seeds' pyramid: 3,015 families at grassroots, 62 at district, 3 at city.
        _member_title("exemplary_family", quotas={"district": 62, "city": 3}),
        TitleRule(title="emulation_flag", subject_kind="unit", levels=["district", "city"],
                  quotas={"district": 1, "city": 1}, per_cluster=True),
        TitleRule(title="certificate_of_merit", subject_kind="unit",
                  levels=["district", "city"], quotas={"district": 10, "city": 5}),
    ]


class AwardRules(_Rules):
    titles: list[TitleRule] = Field(
        default_factory=_default_titles, description="The titles awarded in this campaign."
    )
    higher_level_requires_lower: bool = Field(
        True,
        description="A title at one level requires the same title at the level below "
        "(district requires grassroots, city requires district).",
    )
    tie_breakers: list[Literal["direct_worker", "small_collective", "points", "earliest"]] = (
        Field(
            default_factory=lambda: ["points", "direct_worker", "small_collective", "earliest"],
            description="Order of preference when a quota binds: more points, then "
            "direct-production workers, then small collectives, then earliest achievement.",
        )
    )
    small_collective_max_members: int = Field(
        30, ge=1, description="A unit with at most this many members counts as a small collective."
    )

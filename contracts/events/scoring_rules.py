"""A campaign's scoring rule set: the points each fact earns and the ranking basis."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from contracts.events.common import Grade, Level
from contracts.events.rule_base import RulePoints, RulesModel


def _initiative_points() -> dict[Level, dict[Grade, Decimal]]:
    # Each level up roughly doubles the points: a city-level A is worth four grassroots As.
    base = {"A": Decimal(10), "B": Decimal(7), "C": Decimal(5)}
    factors = {"grassroots": 1, "district": 2, "city": 4, "national": 8}
    return {level: {g: p * f for g, p in base.items()} for level, f in factors.items()}


class ScoringRules(RulesModel):
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

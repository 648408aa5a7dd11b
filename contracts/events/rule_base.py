"""What every part of a campaign's rule sets shares: the model's settings and the bounds of a
price in points."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from contracts.events.common import Points


class RulesModel(BaseModel):
    """A rule set's part: unknown fields ignored (a newer producer's additions), frozen."""

    model_config = ConfigDict(extra="ignore", frozen=True)


MAX_RULE_POINTS = Decimal(1_000_000)


def _within_bounds(points: Decimal) -> Decimal:
    if abs(points) > MAX_RULE_POINTS:
        raise ValueError(f"points must lie within ±{MAX_RULE_POINTS}")
    return points


# A price in a rule set: a million points either way is far beyond any real rule.
RulePoints = Annotated[Points, AfterValidator(_within_bounds)]

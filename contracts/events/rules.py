"""A campaign's scoring and award rule sets, carried by `campaign.launched`.

Every field has a default, so a campaign launched without rules gets the federation's usual
ones; consumers apply the rules of the campaign an event belongs to, never global settings.
The rule sets live in `scoring_rules.py` and `award_rules.py`; this module is their stable
import path.
"""

from contracts.events.award_rules import (
    EXCLUSION_KINDS,
    VGCL_CREATIVE_LABOUR,
    AwardRules,
    ExclusionKind,
    MemberShare,
    Prerequisite,
    RatioCap,
    TitleRule,
)
from contracts.events.rule_base import MAX_RULE_POINTS, RulePoints, RulesModel
from contracts.events.scoring_rules import ScoringRules

__all__ = [
    "EXCLUSION_KINDS", "MAX_RULE_POINTS", "VGCL_CREATIVE_LABOUR", "AwardRules", "ExclusionKind",
    "MemberShare", "Prerequisite", "RatioCap", "RulePoints", "RulesModel", "ScoringRules",
    "TitleRule",
]

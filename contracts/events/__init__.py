"""Every v1 event payload, one module per producer family."""

from contracts.events.awards import AwardEligibilityChanged, AwardGranted, AwardProposed
from contracts.events.base import EventData
from contracts.events.campaigns import CampaignLaunched, Phase, PhaseClosed
from contracts.events.initiatives import (
    InitiativeAuthor,
    InitiativeReviewed,
    InitiativeSubmitted,
    WorkRegistered,
)
from contracts.events.notifications import NotificationDelivered, NotificationFailed
from contracts.events.org import (
    ClusterFormed,
    MemberRegistered,
    MemberUpdated,
    UnitRegistered,
    UnitUpdated,
)
from contracts.events.participation import (
    EmulationRegistered,
    PledgeResultReported,
    PledgeSigned,
    PledgeTarget,
    TargetResult,
)
from contracts.events.rules import AwardRules, ScoringRules, TitleRule
from contracts.events.scores import PhaseStandingsFinalized, ScoreChanged, StandingEntry

__all__ = [
    "AwardEligibilityChanged",
    "AwardGranted",
    "AwardProposed",
    "AwardRules",
    "CampaignLaunched",
    "ClusterFormed",
    "EmulationRegistered",
    "EventData",
    "InitiativeAuthor",
    "InitiativeReviewed",
    "InitiativeSubmitted",
    "MemberRegistered",
    "MemberUpdated",
    "NotificationDelivered",
    "NotificationFailed",
    "Phase",
    "PhaseClosed",
    "PhaseStandingsFinalized",
    "PledgeResultReported",
    "PledgeSigned",
    "PledgeTarget",
    "ScoreChanged",
    "ScoringRules",
    "StandingEntry",
    "TargetResult",
    "TitleRule",
    "UnitRegistered",
    "UnitUpdated",
    "WorkRegistered",
]

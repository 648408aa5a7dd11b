"""The event catalog: every v1 CloudEvents type and the model of its `data`."""

from __future__ import annotations

from contracts import events as ev
from contracts.events.base import EventData
from contracts.topics import Topic

_MODELS: tuple[type[EventData], ...] = (
    ev.UnitRegistered,
    ev.UnitUpdated,
    ev.MemberRegistered,
    ev.MemberUpdated,
    ev.ClusterFormed,
    ev.CampaignLaunched,
    ev.PhaseClosed,
    ev.EmulationRegistered,
    ev.PledgeSigned,
    ev.PledgeResultReported,
    ev.InitiativeSubmitted,
    ev.InitiativeReviewed,
    ev.WorkRegistered,
    ev.ScoreChanged,
    ev.PhaseStandingsFinalized,
    ev.AwardEligibilityChanged,
    ev.AwardProposed,
    ev.AwardGranted,
    ev.NotificationDelivered,
    ev.NotificationFailed,
)

EVENT_TYPES: dict[str, type[EventData]] = {model.event_type: model for model in _MODELS}


class UnknownEventType(KeyError):
    """An event type that is not (or no longer) part of the v1 contract."""

    def __init__(self, event_type: str) -> None:
        super().__init__(event_type)
        self.event_type = event_type

    def __str__(self) -> str:
        return f"unknown event type {self.event_type!r}"


def data_model_for(event_type: str) -> type[EventData]:
    """The payload model of `event_type`; raises UnknownEventType."""
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def event_types_on(topic: Topic) -> list[str]:
    """The event types published on `topic`, in catalog order."""
    return [name for name, model in EVENT_TYPES.items() if model.topic == topic]

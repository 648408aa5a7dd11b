"""What one batch brings scoring, gathered run by run and settled once at the batch's end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from contracts import CloudEvent

from .facts import Fact, Review, Submission


@dataclass
class BatchWork:
    submissions: list[Submission] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    initiatives: set[str] = field(default_factory=set)  # whose review fact to rebuild
    pledged: list[Fact] = field(default_factory=list)  # pledged targets, written first
    facts: list[Fact] = field(default_factory=list)
    launches: dict[str, CloudEvent] = field(default_factory=dict)  # campaign → latest launch
    causes: dict[str, CloudEvent] = field(default_factory=dict)  # admitted events by id
    # (campaign, phase, counter) → n: events applied per type, score changes emitted
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    announced: set[tuple[str, str, str, str]] = field(default_factory=set)
    last_admitted: list[CloudEvent] = field(default_factory=list)
    admitted: int = 0

    def admit(self, events: Sequence[CloudEvent]) -> None:
        self.last_admitted = list(events)
        self.admitted += len(events)
        for e in events:
            self.causes[e.id] = e
            self.counts[(e.data.campaign_id, e.data.phase_id, e.type)] += 1

    def last_cause(self, causes: dict[str, CloudEvent]) -> CloudEvent:
        """The cause of a change whose ledger line names no event of the batch."""
        return next(reversed(causes.values()))

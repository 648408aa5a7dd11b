"""The facts scoring prices, free of I/O: what each consumed event establishes.

A fact has an id derived from what it is about (the initiative, the pledge target, the work,
the registration), so a later event about the same thing replaces its state instead of adding
to it: a higher council's review replaces the lower one's points, a result report turns a
pledged target into a met or missed one, and a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from contracts import CloudEvent
from contracts.events.common import LEVELS
from contracts.events.initiatives import InitiativeReviewed, InitiativeSubmitted, WorkRegistered
from contracts.events.participation import (
    EmulationRegistered,
    PledgeResultReported,
    PledgeSigned,
)

LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class Fact:
    fact_id: str
    rule: str
    campaign_id: str
    phase_id: str
    unit_id: str
    district: str | None
    credit_unit: bool
    member_ids: tuple[str, ...]
    source_event_id: str
    occurred_at: datetime
    level: str | None = None
    grade: str | None = None
    benefit_vnd: int = 0
    target_value: Decimal | None = None
    achieved_value: Decimal | None = None


@dataclass(frozen=True)
class Review:
    """One council's decision, kept per initiative and level."""

    initiative_id: str
    level: str
    level_rank: int
    outcome: str
    grade: str | None
    recognised_benefit_vnd: int
    campaign_id: str
    phase_id: str
    unit_id: str
    district: str | None
    source_event_id: str
    reviewed_at: datetime


@dataclass(frozen=True)
class Submission:
    initiative_id: str
    campaign_id: str
    phase_id: str
    unit_id: str
    author_ids: tuple[str, ...]
    claimed_benefit_vnd: int
    source_event_id: str
    submitted_at: datetime
    fact: Fact = field(compare=False, repr=False)


def distinct(ids: Iterable[str]) -> tuple[str, ...]:
    """Each id once, in order (an author listed twice is one author)."""
    return tuple(dict.fromkeys(ids))


def submissions(events: Sequence[CloudEvent[InitiativeSubmitted]]) -> list[Submission]:
    """A submission is participation: its unit and each author earn `participation_points`.
    The larger points of an accepted initiative come with its review (`reviews`)."""
    out = []
    for e in events:
        d = e.data
        authors = distinct(a.member_id for a in d.authors)
        fact = Fact(f"submission:{d.initiative_id}", "initiative_submitted", d.campaign_id,
                    d.phase_id, d.unit_id, e.district, True, authors, e.id, d.submitted_at,
                    benefit_vnd=0)
        out.append(Submission(d.initiative_id, d.campaign_id, d.phase_id, d.unit_id, authors,
                              d.claimed_benefit_vnd, e.id, d.submitted_at, fact))
    return out


def reviews(events: Sequence[CloudEvent[InitiativeReviewed]]) -> list[Review]:
    return [
        Review(e.data.initiative_id, e.data.level, LEVEL_RANK[e.data.level], e.data.outcome,
               e.data.grade, e.data.recognised_benefit_vnd, e.data.campaign_id, e.data.phase_id,
               e.data.unit_id, e.district, e.id, e.data.reviewed_at)
        for e in events
    ]


def works(events: Sequence[CloudEvent[WorkRegistered]]) -> list[Fact]:
    """A work registered for a plaque earns its unit `plaqued_work_points`."""
    return [
        Fact(f"work:{e.data.work_id}", "work_registered", e.data.campaign_id, e.data.phase_id,
             e.data.unit_id, e.district, True, (), e.id, e.data.registered_at,
             level=e.data.plaque_level, benefit_vnd=e.data.value_vnd)
        for e in events
    ]


def registrations(events: Sequence[CloudEvent[EmulationRegistered]]) -> list[Fact]:
    """Registering for emulation is participation: the unit that registers, or the member who
    does (not their unit), earns `participation_points`."""
    return [
        Fact(f"registration:{e.data.registration_id}", "emulation_registered",
             e.data.campaign_id, e.data.phase_id, e.data.unit_id, e.district,
             e.data.subject_kind == "unit",
             (e.data.subject_id,) if e.data.subject_kind == "member" else (), e.id,
             e.data.registered_at)
        for e in events
    ]


def pledged_targets(events: Sequence[CloudEvent[PledgeSigned]]) -> list[Fact]:
    """Each pledged target of each signing unit is a fact that earns nothing until reported
    met: the units of a cluster's pledge sign the same targets and report their own results."""
    return [
        Fact(f"pledge:{e.data.pledge_id}:{e.data.unit_id}:{t.target_id}", "pledge_target_pending",
             e.data.campaign_id, e.data.phase_id, e.data.unit_id, e.district, True, (), e.id,
             datetime.combine(e.data.signed_on, datetime.min.time(), tzinfo=e.time.tzinfo),
             target_value=t.target_value)
        for e in events for t in e.data.targets
    ]


def target_results(events: Sequence[CloudEvent[PledgeResultReported]]) -> list[Fact]:
    """A reported result makes its target met (earning `pledge_target_met_points`) or missed;
    a later report replaces an earlier one."""
    return [
        Fact(f"pledge:{e.data.pledge_id}:{e.data.unit_id}:{r.target_id}",
             "pledge_target_met" if r.met else "pledge_target_missed",
             e.data.campaign_id, e.data.phase_id, e.data.unit_id, e.district, True, (), e.id,
             e.data.reported_at, achieved_value=r.achieved_value)
        for e in events for r in e.data.results
    ]


def latest_per_fact(facts: Iterable[Fact]) -> list[Fact]:
    """One state per fact id for one statement: the latest occurred, the later one on a tie."""
    kept: dict[str, Fact] = {}
    for f in facts:
        held = kept.get(f.fact_id)
        if held is None or f.occurred_at >= held.occurred_at:
            kept[f.fact_id] = f
    return list(kept.values())

"""A realistic stream for scoring, built through the public contracts: a campaign launched, then
per unit registrations, pledges with targets, submitted initiatives reviewed by grassroots and
district councils, plaqued works and pledge results; and the close with its accepted counts.

Deterministic for a seed, so a test or benchmark can publish the same stream to several
consumers and compare what they derive.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from contracts import CloudEvent, new_event
from contracts.events.campaigns import CampaignLaunched, Phase, PhaseClosed
from contracts.events.initiatives import (
    InitiativeAuthor,
    InitiativeReviewed,
    InitiativeSubmitted,
    WorkRegistered,
)
from contracts.events.participation import (
    EmulationRegistered,
    PledgeResultReported,
    PledgeSigned,
    PledgeTarget,
    TargetResult,
)

SOURCE = "/thidua/registration"
START = datetime(2025, 1, 6, 8, tzinfo=UTC)


@dataclass(frozen=True)
class Mix:
    campaign_id: str
    phase_id: str
    launch: CloudEvent
    events: list[CloudEvent]  # in the order registration accepted them
    close: CloudEvent


def _event(data, district: str, at: datetime) -> CloudEvent:
    return new_event(data, source=SOURCE, district=district, time=at)


def scoring_mix(campaign_id: str, *, units: int = 30, initiatives_per_unit: int = 6,
                members_per_unit: int = 12, registering_members: int | None = None,
                seed: int = 7, unit_prefix: str = "u-mix") -> Mix:
    """`registering_members` of each unit register for titles themselves (a quarter of them
    by default)."""
    rng = random.Random(seed)
    phase_id = f"{campaign_id}-p1"
    at = START
    launch = _event(CampaignLaunched(
        campaign_id=campaign_id, organizer_unit_id="u-hanoi", year=2025,
        theme="Lao động giỏi, lao động sáng tạo", movements=["Sáng kiến, sáng tạo"],
        phases=[Phase(phase_id=phase_id, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 6, 30))],
        launched_at=at), None, at)
    events: list[CloudEvent] = []

    def tick() -> datetime:
        nonlocal at
        at += timedelta(seconds=rng.randint(1, 90))
        return at

    for u in range(units):
        unit_id, district = f"{unit_prefix}-{u:05d}", f"d-mix-{u % 12:02d}"
        members = [f"m-{unit_id}-{m:03d}" for m in range(members_per_unit)]
        common = {"campaign_id": campaign_id, "phase_id": phase_id, "unit_id": unit_id}
        events.append(_event(EmulationRegistered(
            registration_id=f"reg-{unit_id}", subject_kind="unit", subject_id=unit_id,
            titles=["emulation_flag"], target_level="district", registered_at=tick(),
            **common), district, at))
        registering = (max(1, members_per_unit // 4) if registering_members is None
                       else registering_members)
        for m in members[:registering]:
            events.append(_event(EmulationRegistered(
                registration_id=f"reg-{m}", subject_kind="member", subject_id=m,
                titles=["good_worker"], registered_at=tick(), **common), district, at))
        pledged = rng.randint(2, initiatives_per_unit + 1)
        events.append(_event(PledgeSigned(
            pledge_id=f"pl-{unit_id}", signed_on=date(2025, 1, 10),
            targets=[PledgeTarget(target_id="sang-kien", description="Sáng kiến được công nhận",
                                  target_value=Decimal(pledged), unit_of_measure="sáng kiến"),
                     PledgeTarget(target_id="dao-tao", description="Đoàn viên được đào tạo",
                                  target_value=Decimal(90), unit_of_measure="%")],
            **common), district, at))
        accepted = 0
        for n in range(initiatives_per_unit):
            ini = f"ini-{unit_id}-{n}"
            authors = rng.sample(members, k=rng.randint(1, min(3, len(members))))
            benefit = rng.randrange(5, 400) * 1_000_000
            events.append(_event(InitiativeSubmitted(
                initiative_id=ini, title=f"Sáng kiến cải tiến số {n}", field="kỹ thuật",
                authors=[InitiativeAuthor(member_id=a, full_name=f"Đoàn viên {a[-3:]}",
                                          direct_worker=rng.random() < 0.6) for a in authors],
                claimed_benefit_vnd=benefit, submitted_at=tick(), **common), district, at))
            outcome = "accepted" if rng.random() < 0.75 else "rejected"
            grade = rng.choice("ABC") if outcome == "accepted" else None
            accepted += outcome == "accepted"
            events.append(_event(InitiativeReviewed(
                initiative_id=ini, outcome=outcome, level="grassroots", grade=grade,
                recognised_benefit_vnd=benefit // 2 if grade else 0, council_unit_id=unit_id,
                reviewed_at=tick(), **common), district, at))
            if grade == "A" and rng.random() < 0.5:  # the best go up to the district council
                events.append(_event(InitiativeReviewed(
                    initiative_id=ini, outcome="accepted", level="district",
                    grade=rng.choice("AB"), recognised_benefit_vnd=benefit,
                    council_unit_id=district, reviewed_at=tick(), **common), district, at))
        if rng.random() < 0.3:
            events.append(_event(WorkRegistered(
                work_id=f"work-{unit_id}", name="Công trình chào mừng 28/7",
                value_vnd=rng.randrange(1, 50) * 100_000_000,
                occasion="Kỷ niệm 96 năm Ngày thành lập Công đoàn Việt Nam (28/7)",
                plaque_level="district", registered_at=tick(), **common), district, at))
        events.append(_event(PledgeResultReported(
            pledge_id=f"pl-{unit_id}", reported_at=tick(),
            results=[TargetResult(target_id="sang-kien", achieved_value=Decimal(accepted),
                                  met=accepted >= pledged),
                     TargetResult(target_id="dao-tao", achieved_value=Decimal(95), met=True)],
            **common), district, at))
    counts = Counter(e.type for e in events)
    close = _event(PhaseClosed(
        campaign_id=campaign_id, phase_id=phase_id, closed_at=tick(),
        closed_by_unit_id="u-hanoi", accepted_counts=dict(counts)), None, at)
    return Mix(campaign_id, phase_id, launch, events, close)

"""Realistic events for tests, built through the public contracts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from contracts import CloudEvent, new_event
from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted
from contracts.events.org import (
    ClusterFormed,
    MemberRegistered,
    MemberUpdated,
    UnitRegistered,
    UnitUpdated,
)


def initiative_submitted(
    campaign_id: str = "cmp-2025-hn", unit_id: str = "u-dongda-thcs-langthuong",
    title: str = "Cải tiến quy trình chấm bài trực tuyến",
    authors: list[InitiativeAuthor] | None = None, **overrides,
) -> CloudEvent:
    data = InitiativeSubmitted(
        initiative_id=f"ini-{uuid.uuid4().hex[:12]}",
        campaign_id=campaign_id,
        phase_id=f"{campaign_id}-p1",
        unit_id=unit_id,
        title=title,
        field="giáo dục",
        authors=authors or [
            InitiativeAuthor(member_id="m-0001", full_name="Trần Văn Minh", direct_worker=True)],
        claimed_benefit_vnd=35_000_000,
        submitted_at=datetime.now(UTC),
        **overrides,
    )
    return new_event(data, source="/thidua/registration", district="d-dongda")


# Org directory events (thidua.org.v1), as registration publishes them: each carries a unit's or
# member's whole state from `effective_from` on; `time` is when it was recorded.
ORG_SOURCE = "/thidua/registration"


def unit_state(
    unit_id: str, parent_id: str | None, effective_from: date, *,
    kind: str = "grassroots_union", updated: bool = False, time: datetime | None = None,
    district_id: str | None = None, name: str | None = None, sector: str = "education",
    member_count: int = 40, direct_worker_count: int = 10, status: str = "active",
    previous_parent_id: str | None = None, changed: list[str] | None = None,
) -> CloudEvent:
    """`unit.registered` (or `unit.updated`, with `updated=True`) for `unit_id`."""
    extra = {"previous_parent_id": previous_parent_id, "changed": changed or []}
    data = (UnitUpdated if updated else UnitRegistered)(
        unit_id=unit_id, name=name or f"Công đoàn {unit_id}", kind=kind, parent_id=parent_id,
        effective_from=effective_from, district_id=district_id, sector=sector,
        member_count=member_count, direct_worker_count=direct_worker_count, status=status,
        **(extra if updated else {}),
    )
    return new_event(data, source=ORG_SOURCE, district=district_id, time=time)


def member_state(
    member_id: str, unit_id: str, effective_from: date, *, updated: bool = False,
    time: datetime | None = None, full_name: str = "Nguyễn Thị Lan", gender: str = "female",
    direct_worker: bool = True, union_officer: bool = False, job_title: str | None = None,
    status: str = "active", previous_unit_id: str | None = None,
) -> CloudEvent:
    """`member.registered` (or `member.updated`, with `updated=True`) for `member_id`."""
    extra = {"previous_unit_id": previous_unit_id} if updated else {}
    data = (MemberUpdated if updated else MemberRegistered)(
        member_id=member_id, unit_id=unit_id, full_name=full_name, gender=gender,
        direct_worker=direct_worker, union_officer=union_officer, job_title=job_title,
        effective_from=effective_from, status=status, **extra,
    )
    return new_event(data, source=ORG_SOURCE, district=None, time=time)


def cluster_formed(
    cluster_id: str, organizer_unit_id: str, member_unit_ids: list[str], year: int, *,
    name: str | None = None, time: datetime | None = None,
) -> CloudEvent:
    data = ClusterFormed(
        cluster_id=cluster_id, name=name or f"Cụm thi đua {cluster_id}",
        organizer_unit_id=organizer_unit_id, member_unit_ids=member_unit_ids, year=year,
        effective_from=date(year, 1, 1), formed_at=time or datetime.now(UTC),
    )
    return new_event(data, source=ORG_SOURCE, district=None, time=time)

"""Realistic events for tests, built through the public contracts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts import CloudEvent, new_event
from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted


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

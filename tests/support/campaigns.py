"""Campaigns for tests: launched through registration's `POST /campaigns`, with phases placed
around today (Vietnamese calendar) so a test chooses an open, future or past phase."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from services.devstack.demo_directory import CITY
from services.runtime.access import VIETNAM


def today() -> date:
    return datetime.now(VIETNAM).date()


def campaign_body(organizer: str = CITY, *, prefix: str = "cmp-test", **overrides) -> dict:
    """A campaign of this year whose phase `<id>-now` is open today, with a past phase
    `<id>-past` and a future one `<id>-next` (empty when today leaves no room)."""
    campaign_id = f"{prefix}-{uuid.uuid4().hex[:10]}"
    day = today()
    phases = []
    if day > date(day.year, 1, 2):
        phases.append(_phase(f"{campaign_id}-past", "Đợt 1", date(day.year, 1, 1),
                             day - timedelta(days=2)))
    phases.append(_phase(f"{campaign_id}-now", "Đợt cao điểm", max(date(day.year, 1, 1),
                                                                   day - timedelta(days=1)),
                         min(date(day.year, 12, 31), day + timedelta(days=1)), kind="peak",
                         occasion="28/7 — Ngày thành lập Công đoàn Việt Nam"))
    if day < date(day.year, 12, 29):
        phases.append(_phase(f"{campaign_id}-next", "Đợt 2", day + timedelta(days=3),
                             date(day.year, 12, 31)))
    return {"campaign_id": campaign_id, "organizer_unit_id": organizer, "year": day.year,
            "theme": "Thi đua lao động giỏi, lao động sáng tạo",
            "movements": ["Lao động giỏi, lao động sáng tạo"], "phases": phases} | overrides


def _phase(phase_id: str, name: str, starts: date, ends: date, **extra) -> dict:
    return {"phase_id": phase_id, "name": name, "starts_on": starts.isoformat(),
            "ends_on": ends.isoformat(), **extra}


async def launch(client, organizer: str = CITY, headers: dict | None = None,
                 **overrides) -> dict:
    """Launch a campaign (as the client's caller, or `headers`'); its body, with `open_phase`."""
    body = campaign_body(organizer, **overrides)
    answer = await client.post("/campaigns", json=body, headers=headers or {})
    assert answer.status_code == 201, answer.text
    return body | answer.json() | {"open_phase": f"{body['campaign_id']}-now"}

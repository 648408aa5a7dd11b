"""Campaigns for tests: launched through registration's `POST /campaigns`, with phases placed
around today (Vietnamese calendar) so a test chooses an open, future or past phase."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta

from contracts import EventDecodeError, decode_event
from services.devstack.demo_directory import CITY
from services.runtime.access import VIETNAM
from tests.support.kafka_log import read_topic, wait_for


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


async def new_units(client, pool, parent: str, count: int, *, kind: str = "grassroots_union",
                    prefix: str = "u-t", founded: str = "2025-10-01") -> list[str]:
    """Register `count` units under `parent` from `founded` (when the demo's wards were)
    through registration, and wait until its directory projection (`pool`'s) holds them, so
    scope checks find them."""
    tag = uuid.uuid4().hex[:8]
    ids = [f"{prefix}-{tag}-{i}" for i in range(count)]
    for unit_id in ids:
        answer = await client.post("/units", json={
            "unit_id": unit_id, "name": f"Công đoàn cơ sở {unit_id}", "kind": kind,
            "parent_id": parent, "effective_from": founded, "sector": "enterprise",
            "member_count": 120, "direct_worker_count": 90})
        assert answer.status_code == 201, answer.text

    async def projected() -> bool:
        return await pool.fetchval(
            "SELECT count(DISTINCT unit_id) FROM directory_units WHERE unit_id = ANY($1)",
            ids) == count

    await wait_for(projected)
    return ids


async def events_on(bootstrap: str, topic: str, **match) -> list[tuple]:
    """(record, event) for each event on `topic` whose data has the `match` values."""
    found = []
    for record in await read_topic(bootstrap, topic):
        try:
            event = decode_event(record.value)
        except EventDecodeError:
            continue
        if all(getattr(event.data, k, None) == v for k, v in match.items()):
            found.append((record, event))
    return found


async def wait_for_events(bootstrap: str, topic: str, count: int, timeout: float = 120,
                          **match) -> list[tuple]:
    """The matching events once there are at least `count` (then a short settle, so a
    duplicate would show)."""
    async def enough():
        hits = await events_on(bootstrap, topic, **match)
        return hits if len(hits) >= count else None

    await wait_for(enough, timeout=timeout)
    await asyncio.sleep(0.3)
    return await events_on(bootstrap, topic, **match)

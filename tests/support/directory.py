"""Building the unit directory a test needs: org events published on the real broker, then a
wait until every service's projection shows their final state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from contracts.events.base import EventData
from contracts.events.org import MemberRegistered, MemberUpdated, UnitRegistered, UnitUpdated
from services.devstack.demo_directory import org_events, publish_org_events
from tests.support.kafka_log import wait_for


async def publish_tree(bootstrap_servers: str, payloads: Sequence[EventData]) -> None:
    await publish_org_events(bootstrap_servers, org_events(payloads))


async def wait_until_projected(directories: Iterable, payloads: Sequence[EventData],
                               timeout: float = 120.0) -> None:
    """Every unit and member of `payloads` has, in every directory, its latest state."""
    latest: dict[tuple[str, str], EventData] = {}
    for p in payloads:
        if isinstance(p, UnitRegistered | UnitUpdated):
            key = ("unit", p.unit_id)
        elif isinstance(p, MemberRegistered | MemberUpdated):
            key = ("member", p.member_id)
        else:
            continue
        if key not in latest or latest[key].effective_from <= p.effective_from:
            latest[key] = p
    directories = list(directories)

    async def projected() -> bool:
        for directory in directories:
            for (kind, _), p in latest.items():
                day: date = p.effective_from
                if kind == "unit":
                    found = await directory.unit(p.unit_id, day)
                    if found is None or (found.parent_id, found.status) != (p.parent_id,
                                                                             p.status):
                        return False
                else:
                    found = await directory.member(p.member_id, day)
                    if found is None or found.unit_id != p.unit_id:
                        return False
        return True

    await wait_for(projected, timeout=timeout)

"""The gate of every command that names a campaign and phase: the campaign exists and reaches
the unit (the unit lies under its organiser today), and the phase takes the command today —
checked first on the cached dates, then under the phase's lock inside the command's transaction,
where a close that committed first is seen (`campaign_domain` has the windows)."""

from __future__ import annotations

from datetime import date

import asyncpg
from fastapi import Request

from services.runtime.access import Scope
from services.runtime.caller import Role
from services.runtime.domain_errors import Conflict, DomainError

from . import campaign_repository as repository
from .campaign_domain import (
    CampaignNotFound,
    CampaignReach,
    PhaseDates,
    UnitNotActive,
    UnitOutsideCampaign,
    Window,
)
from .campaign_domain import check_window as _check_window
from .phase_metrics import PHASE_REFUSALS

_GATE_CODES = frozenset({"phase_not_started", "phase_ended", "phase_closed"})


def check_window(reach: CampaignReach, phase_id: str, day: date, window: Window,
                 closed: bool = False) -> PhaseDates:
    """`campaign_domain.check_window`, counting its refusals."""
    try:
        return _check_window(reach, phase_id, day, window, closed=closed)
    except Conflict as exc:
        refused(exc)
        raise


def refused(exc: DomainError) -> None:
    if exc.code in _GATE_CODES:
        PHASE_REFUSALS.labels(code=exc.code).inc()


def campaigns(request: Request) -> repository.Campaigns:
    """The app's campaign cache, on the runtime's current pool (a restarted runtime has a new
    one)."""
    state = request.app.state
    cache = getattr(state, "campaigns", None)
    if cache is None or not cache.reads(state.runtime.pool):
        state.campaigns = cache = repository.Campaigns(state.runtime.pool)
    return cache


async def campaign(request: Request, campaign_id: str) -> CampaignReach:
    found = await campaigns(request).reach(campaign_id)
    if found is None:
        raise CampaignNotFound(campaign_id)
    return found


async def admit(request: Request, scope: Scope, campaign_id: str, phase_id: str, unit_id: str,
                window: Window, *, field: str = "unit_id") -> tuple[CampaignReach, PhaseDates]:
    """The campaign and phase, if the phase takes this kind of command today for `unit_id`."""
    reach = await campaign(request, campaign_id)
    phase = check_window(reach, phase_id, scope.today, window)
    if not await scope.directory.inside(unit_id, reach.organizer_unit_id, scope.today):
        raise UnitOutsideCampaign(unit_id, reach, field)
    unit = await scope.directory.unit(unit_id, scope.today)
    if unit is None or unit.status != "active":
        raise UnitNotActive(unit_id, field)
    return reach, phase


async def enter(conn: asyncpg.Connection, reach: CampaignReach, phase_id: str, day: date,
                window: Window) -> PhaseDates:
    """Inside the command's transaction: lock the phase against its close, and check it again."""
    closed = await repository.lock_phase(conn, reach.campaign_id, phase_id)
    return check_window(reach, phase_id, day, window, closed=bool(closed))


async def visible_organizers(scope: Scope) -> list[str] | None:
    """The organisers whose campaigns the caller sees: those of its subtree and of the units
    above it (a campaign cascades down), None for everyone's."""
    caller = scope.caller
    if caller.city_wide:
        return None
    if caller.role is Role.MEMBER:
        member = await scope.directory.member(caller.member_id, scope.today)
        unit = member.unit_id if member is not None else None
    else:
        unit = caller.unit_id
    if unit is None:
        return []
    above = await scope.directory.ancestors(unit, scope.today) or ()
    below = [] if caller.role is Role.MEMBER else await scope.directory.subtree(unit, scope.today)
    return sorted(set(above) | set(below))

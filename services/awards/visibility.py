"""Which units' award records a caller reads: their subtree today (officials, reviewers,
integrators), their own unit's published lists (a member), everywhere (city-wide roles)."""

from __future__ import annotations

from services.runtime.access import Scope
from services.runtime.caller import Role


async def visible_units(scope: Scope) -> list[str] | None:
    """The units whose records the caller reads; None for everywhere."""
    c = scope.caller
    if c.city_wide:
        return None
    if c.role is Role.MEMBER:
        member = await scope.directory.member(c.member_id or "", scope.today)
        return [member.unit_id] if member is not None else []
    return await scope.directory.subtree(c.unit_id or "", scope.today)


def sees(units: list[str] | None, *unit_ids: str) -> bool:
    return units is None or any(u in units for u in unit_ids)

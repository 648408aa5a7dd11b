"""What a list may show a caller: lists are filtered in SQL by the caller's scope, never by a
parameter the caller chose."""

from __future__ import annotations

from services.runtime.access import Scope
from services.runtime.caller import Role


async def listed_units(scope: Scope) -> tuple[list[str] | None, str | None]:
    """The units of the caller's subtree today (None: every unit, for city-wide roles), or,
    for a member, their member id (their own records only)."""
    caller = scope.caller
    if caller.city_wide:
        return None, None
    if caller.role is Role.MEMBER:
        return None, caller.member_id
    return await scope.directory.subtree(caller.unit_id, scope.today), None

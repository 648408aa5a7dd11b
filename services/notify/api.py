"""Notify's HTTP queries: a member's in-app inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from services.runtime.access import Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import repository

router = APIRouter(tags=["inbox"])

# An inbox is personal: officials see the outcomes of their decisions elsewhere, not here.
INBOX_READERS = Rule(
    "read-own-inbox", {Role.MEMBER, Role.CITY_ADMIN, Role.AUDITOR},
    summary="The member themself; the city administrator and auditors for support and "
            "inspection. Another member's inbox answers 404.",
)


class InAppNotification(BaseModel):
    notification_id: str
    template: str
    subject: str
    body: str
    channel: str
    source_event_id: str
    correlation_id: str
    created_at: datetime
    read_at: datetime | None


@router.get("/members/{member_id}/notifications",
            responses=problem_responses(401, 403, 404, 422, 503))
async def member_notifications(
    member_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(INBOX_READERS)],
    limit: int = Query(50, ge=1, le=500),
) -> list[InAppNotification]:
    """The member's notifications, newest first."""
    await scope.require_member(member_id)
    rows = await repository.notifications_of(request.app.state.runtime.pool, member_id, limit)
    return [InAppNotification.model_validate(row) for row in rows]

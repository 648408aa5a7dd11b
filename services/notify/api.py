"""Notify's HTTP queries: a member's in-app inbox."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import repository

router = APIRouter(tags=["inbox"])


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


@router.get("/members/{member_id}/notifications", responses=problem_responses(422, 503))
async def member_notifications(
    member_id: Identifier, request: Request, limit: int = Query(50, ge=1, le=500)
) -> list[InAppNotification]:
    """The member's notifications, newest first."""
    rows = await repository.notifications_of(request.app.state.runtime.pool, member_id, limit)
    return [InAppNotification.model_validate(row) for row in rows]

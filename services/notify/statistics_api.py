"""Notify's statistics: what went out over each channel and how it ended, the figures an
operator (or the demo's closing report) reads after a phase close or a round of decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from services.runtime.access import Rule, Scope
from services.runtime.caller import Role
from services.runtime.problems import problem_responses

router = APIRouter(tags=["statistics"])

# Counts over every member and subscription: only the city-wide roles read them.
STATISTICS_READERS = Rule(
    "read-notification-statistics", {Role.CITY_ADMIN, Role.AUDITOR},
    summary="The city administrator and auditors: counts over every inbox, e-mail and "
            "subscription of the city.")

# One statement: in-app messages are delivered when written; e-mails and webhooks by the
# status of their delivery rows (a digest counts as one e-mail).
_COUNTS = """
SELECT 'in_app' AS channel, count(*) AS delivered, 0::bigint AS pending, 0::bigint AS failed
  FROM notifications
UNION ALL
SELECT 'email', count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'failed')
  FROM deliveries
UNION ALL
SELECT 'webhook', count(*) FILTER (WHERE status = 'delivered'),
       count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'parked')
  FROM webhook_deliveries
"""


class ChannelCount(BaseModel):
    channel: str = Field(description="`in_app`, `email` or `webhook`.")
    delivered: int = Field(description="Written to the inbox, accepted by the SMTP relay, or "
                                       "answered 2xx by the endpoint.")
    pending: int = Field(description="Queued or waiting for a retry.")
    failed: int = Field(description="Given up: e-mails failed, webhook deliveries parked.")


class NotificationStatistics(BaseModel):
    channels: list[ChannelCount]


@router.get("/statistics/notifications", responses=problem_responses(401, 403, 503))
async def notification_statistics(
    request: Request, scope: Annotated[Scope, Depends(STATISTICS_READERS)],
) -> NotificationStatistics:
    """Per channel: delivered, pending and failed."""
    rows = await request.app.state.runtime.pool.fetch(_COUNTS)
    return NotificationStatistics(channels=[ChannelCount(**dict(r)) for r in rows])

"""Notify's event handlers: each event becomes the messages its recipients should get."""

from __future__ import annotations

import structlog

from contracts import CloudEvent
from contracts.events.awards import AwardEligibilityChanged
from contracts.events.notifications import NotificationDelivered
from services.runtime.context import Context
from services.runtime.handlers import Handlers

from . import domain
from .repository import NotifyRepository

log = structlog.get_logger()
handlers = Handlers()


@handlers.batch
async def on_eligibility_changed(
    ctx: Context[NotifyRepository], events: list[CloudEvent[AwardEligibilityChanged]]
) -> None:
    outgoing = [
        domain.Outgoing(message, event.id, event.correlationid)
        for event in events
        for message in domain.eligibility_messages(event.id, event.data)
    ]
    delivered = await ctx.repo.record_in_app(outgoing)
    causes = {event.id: event for event in events}
    now = ctx.now()
    for item in delivered:
        m = item.message
        ctx.emit(
            NotificationDelivered(
                notification_id=m.notification_id, recipient_id=m.recipient_id,
                recipient_kind=m.recipient_kind, channel=m.channel, template=m.template,
                subject=m.subject, source_event_id=item.source_event_id, delivered_at=now,
            ),
            cause=causes[item.source_event_id], subject=m.recipient_id,
        )
    if delivered:
        log.info("notifications_delivered", count=len(delivered), channel="in_app")

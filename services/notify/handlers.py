"""Notify's event handlers: each event becomes the messages its recipients should get."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import structlog

from contracts import CloudEvent, new_event
from contracts.events.awards import AwardEligibilityChanged
from contracts.events.notifications import NotificationDelivered
from services.runtime import outbox

from . import domain, repository

log = structlog.get_logger()
SOURCE = "/thidua/notify"


async def on_eligibility_changed(conn: asyncpg.Connection, event: CloudEvent) -> None:
    delivered = []
    for message in domain.eligibility_messages(event.id, event.data):
        if not await repository.record_in_app(conn, message, event.id, event.correlationid):
            continue
        delivered.append(
            new_event(
                NotificationDelivered(
                    notification_id=message.notification_id, recipient_id=message.recipient_id,
                    recipient_kind=message.recipient_kind, channel=message.channel,
                    template=message.template, subject=message.subject,
                    source_event_id=event.id, delivered_at=datetime.now(UTC),
                ),
                source=SOURCE, district=event.district, correlation_id=event.correlationid,
                causation_id=event.id, subject=message.recipient_id,
            )
        )
        log.info("notification_delivered", recipient_id=message.recipient_id,
                 channel=message.channel, notification_id=message.notification_id)
    await outbox.enqueue(conn, delivered)


HANDLERS = {AwardEligibilityChanged.event_type: on_eligibility_changed}

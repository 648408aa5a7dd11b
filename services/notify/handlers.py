"""Notify's event handlers: each event becomes the messages its recipients should get.

In-app messages are written and announced in the batch's transaction. E-mails are rendered and
queued in `deliveries` in the same transaction; the sender task (`sender.py`) sends them
afterwards, so no network I/O holds the batch open.
"""

from __future__ import annotations

import structlog

from contracts import CloudEvent
from contracts.events.awards import AwardEligibilityChanged
from contracts.events.notifications import NotificationDelivered
from services.runtime.context import Context
from services.runtime.handlers import Handlers

from . import domain, mail
from .repository import EmailDelivery, NotifyRepository

log = structlog.get_logger()
handlers = Handlers()


@handlers.batch
async def on_eligibility_changed(
    ctx: Context[NotifyRepository], events: list[CloudEvent[AwardEligibilityChanged]]
) -> None:
    in_app = [
        (event, domain.Outgoing(message, event.id, event.correlationid))
        for event in events
        for message in domain.eligibility_messages(event.id, event.data)
    ]
    reach = await ctx.repo.reach_of([o.message.recipient_id for _, o in in_app])
    wanted = [o for _, o in in_app if reach[o.message.recipient_id].in_app_enabled]
    delivered = await ctx.repo.record_in_app(wanted)
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

    emails = []
    for event, item in in_app:
        recipient = reach[item.message.recipient_id]
        if not recipient.by_email:
            continue
        language = recipient.language
        rendered = mail.render(item.message.template, language,
                               domain.eligibility_email_context(event.data, event.time, language))
        message = domain.Message(
            domain.notification_id(event.id, item.message.recipient_id, "email"),
            item.message.recipient_id, item.message.recipient_kind, "email",
            item.message.template, rendered.subject, rendered.text,
        )
        emails.append(EmailDelivery(domain.Outgoing(message, event.id, event.correlationid),
                                    language, rendered.text, rendered.html, event.district))
    queued = await ctx.repo.queue_emails(emails)
    if queued:
        log.info("emails_queued", count=queued)
    hooked = await ctx.repo.queue_webhooks(events)
    if hooked:
        log.info("webhooks_queued", count=hooked)

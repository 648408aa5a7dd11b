"""Notify's event handlers: each triggering event becomes notices (`triggers.py`), their
audiences are resolved against notify's copy of the directory in one query, and each member
gets what their preferences allow, all in the batch's transaction:

- in-app messages written and announced (`thidua.notification.delivered.v1`) at once;
- e-mails rendered once per notice and language, queued in `deliveries` (held to the end of the
  member's quiet hours) for the e-mail worker, or held in `digest_items` for the daily digest;
- webhook deliveries queued for every subscription whose scope holds the event.

No network I/O holds the batch open: the queue workers send afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from contracts import CloudEvent
from contracts.events.awards import AwardEligibilityChanged, AwardGranted, AwardProposed
from contracts.events.campaigns import CampaignLaunched, PhaseClosed
from contracts.events.initiatives import InitiativeReviewed, InitiativeSubmitted
from contracts.events.notifications import NotificationDelivered
from contracts.events.participation import PledgeSigned
from contracts.events.scores import PhaseStandingsFinalized
from services.runtime.context import Context
from services.runtime.handlers import Handlers
from services.runtime.vietnamese import vietnam_date

from . import domain, mail, triggers
from .queue import QUEUED
from .repository import DigestItem, EmailDelivery, NotifyRepository
from .triggers import Names, Notice

log = structlog.get_logger()
handlers = Handlers()


async def _names(ctx: Context[NotifyRepository], events: Sequence[CloudEvent]) -> Names:
    """Every unit, campaign, initiative and cluster the events name, looked up at once."""
    units, campaigns, initiatives, clusters = [], [], [], []
    for e in events:
        d = e.data
        for name in ("unit_id", "council_unit_id", "issuer_unit_id", "closed_by_unit_id"):
            if getattr(d, name, None):
                units.append(getattr(d, name))
        units.extend(getattr(d, "counterpart_unit_ids", ()))
        if getattr(d, "campaign_id", None):
            campaigns.append(d.campaign_id)
        if getattr(d, "initiative_id", None):
            initiatives.append(d.initiative_id)
        if getattr(d, "cluster_id", None):
            clusters.append(d.cluster_id)
    return await ctx.repo.names(units, campaigns, initiatives, clusters)


async def deliver(ctx: Context[NotifyRepository], notices: Sequence[Notice],
                  events: Sequence[CloudEvent]) -> None:
    """Every notice to every member of its audience, on the channels they allow, and every
    event to the webhooks subscribed to it; each (event, member, channel) once, whatever is
    redelivered."""
    recipients = await ctx.repo.recipients([n.audience for n in notices])
    rendered: dict[tuple[int, str, str], mail.Rendered] = {}

    def render(i: int, language: str, channel: str = "email") -> mail.Rendered:
        """Once per notice, language and channel (the in-app text has no e-mail footer)."""
        if (i, language, channel) not in rendered:
            n = notices[i]
            rendered[i, language, channel] = mail.render(
                n.template, language, n.context(language) | {"channel": channel})
        return rendered[i, language, channel]

    seen: set[tuple[str, str]] = set()  # (event, member): the first notice of an event wins
    in_app: list[domain.Outgoing] = []
    emails: list[EmailDelivery] = []
    digests: list[DigestItem] = []
    for r in recipients:
        n = notices[r.audience]
        event = n.event
        if (event.id, r.member_id) in seen:
            continue
        seen.add((event.id, r.member_id))
        if r.in_app:
            subject, body = n.in_app or (render(r.audience, "vi", "in_app").subject,
                                         render(r.audience, "vi", "in_app").text)
            in_app.append(domain.Outgoing(domain.Message(
                domain.notification_id(event.id, r.member_id, "in_app"), r.member_id, "member",
                "in_app", n.template, subject, body), event.id, event.correlationid))
        if not r.by_email:
            continue
        mail_id = domain.notification_id(event.id, r.member_id, "email")
        text = render(r.audience, r.language)
        if r.digest:
            digests.append(DigestItem(mail_id, r.member_id, n.template, text.subject,
                                      r.language, event.id, event.correlationid,
                                      event.district))
            continue
        message = domain.Message(mail_id, r.member_id, "member", "email", n.template,
                                 text.subject, text.text)
        emails.append(EmailDelivery(domain.Outgoing(message, event.id, event.correlationid),
                                    r.language, text.text, text.html, event.district))

    delivered = await ctx.repo.record_in_app(in_app)
    causes = {e.id: e for e in events}
    now = ctx.now()
    for item in delivered:
        m = item.message
        ctx.emit(NotificationDelivered(
            notification_id=m.notification_id, recipient_id=m.recipient_id,
            recipient_kind=m.recipient_kind, channel=m.channel, template=m.template,
            subject=m.subject, source_event_id=item.source_event_id, delivered_at=now),
            cause=causes[item.source_event_id], subject=m.recipient_id)
    queued = await ctx.repo.queue_emails(emails)
    held = await ctx.repo.queue_digest_items(digests)
    hooked = await ctx.repo.queue_webhooks(events)
    for channel, count in (("in_app", len(delivered)), ("email", queued), ("digest", held),
                           ("webhook", hooked)):
        if count:
            QUEUED.labels(channel).inc(count)
    if delivered or queued or held or hooked:
        log.info("notifications_queued", in_app=len(delivered), email=queued, digest=held,
                 webhook=hooked, recipients=len(seen))


@handlers.batch
async def on_eligibility_changed(
    ctx: Context[NotifyRepository], events: list[CloudEvent[AwardEligibilityChanged]]
) -> None:
    names = Names()
    await deliver(ctx, [n for e in events for n in triggers.eligibility_changed(e, names)],
                  events)


@handlers.batch
async def on_campaigns_launched(
    ctx: Context[NotifyRepository], events: list[CloudEvent[CampaignLaunched]]
) -> None:
    """Kept, not announced: a phase close later reaches every unit under the organizer."""
    await ctx.repo.record_campaigns([
        (e.data.campaign_id, e.data.organizer_unit_id, e.data.theme, e.data.year,
         {p.phase_id: p.name for p in e.data.phases}, e.time) for e in events])


@handlers.batch
async def on_initiatives_submitted(
    ctx: Context[NotifyRepository], events: list[CloudEvent[InitiativeSubmitted]]
) -> None:
    await ctx.repo.record_initiatives([
        (e.data.initiative_id, e.data.unit_id, e.data.title,
         [a.member_id for a in e.data.authors], e.data.submitted_at) for e in events])
    names = await _names(ctx, events)
    parents = await ctx.repo.parents([(e.data.unit_id, vietnam_date(e.time)) for e in events])
    notices = [n for e in events for n in triggers.initiative_submitted(
        e, names, parents.get((e.data.unit_id, vietnam_date(e.time))))]
    await deliver(ctx, notices, events)


@handlers.batch
async def on_initiatives_reviewed(
    ctx: Context[NotifyRepository], events: list[CloudEvent[InitiativeReviewed]]
) -> None:
    names = await _names(ctx, events)
    await deliver(ctx, [n for e in events for n in triggers.initiative_reviewed(e, names)],
                  events)


@handlers.batch
async def on_pledges_signed(
    ctx: Context[NotifyRepository], events: list[CloudEvent[PledgeSigned]]
) -> None:
    names = await _names(ctx, events)
    await deliver(ctx, [n for e in events for n in triggers.pledge_signed(e, names)], events)


@handlers.batch
async def on_phases_closed(
    ctx: Context[NotifyRepository], events: list[CloudEvent[PhaseClosed]]
) -> None:
    names = await _names(ctx, events)
    await deliver(ctx, [n for e in events for n in triggers.phase_closed(e, names)], events)


@handlers.batch
async def on_standings_finalized(
    ctx: Context[NotifyRepository], events: list[CloudEvent[PhaseStandingsFinalized]]
) -> None:
    """Members hear of the phase-wide event only; integrators get every chunk."""
    names = await _names(ctx, [e for e in events if e.data.scope_kind == "phase"])
    await deliver(ctx, [n for e in events for n in triggers.standings_finalized(e, names)],
                  events)


@handlers.batch
async def on_awards_proposed(
    ctx: Context[NotifyRepository], events: list[CloudEvent[AwardProposed]]
) -> None:
    names = await _names(ctx, events)
    await deliver(ctx, [n for e in events for n in triggers.award_proposed(e, names)], events)


@handlers.batch
async def on_awards_granted(
    ctx: Context[NotifyRepository], events: list[CloudEvent[AwardGranted]]
) -> None:
    names = await _names(ctx, events)
    await deliver(ctx, [n for e in events for n in triggers.award_granted(e, names)], events)

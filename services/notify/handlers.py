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
from contracts.events.participation import PledgeSigned
from contracts.events.scores import PhaseStandingsFinalized
from services.runtime import tracing
from services.runtime.context import Context, Envelopes
from services.runtime.handlers import Handlers
from services.runtime.vietnamese import vietnam_date

from . import fanout, triggers
from .queue import QUEUED
from .repository import NotifyRepository
from .triggers import Names, Notice

log = structlog.get_logger()
handlers = Handlers()
# The in-app announcements' envelopes, built once per notice (`fanout.py`); their `time` is
# when the batch ran.
ENVELOPES = Envelopes("notify")


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
    redelivered. Three statements, however many members hear: the audiences, the fan-out
    (`fanout.py`), the webhooks."""
    recipients = await ctx.repo.recipients([n.audience for n in notices])
    planned = fanout.plan(notices, recipients, ctx.now(), ENVELOPES)
    written = await ctx.repo.fan_out(planned, tracing.current_traceparent())
    hooked = await ctx.repo.queue_webhooks(events)
    for channel, count in (("in_app", written.in_app), ("email", written.email),
                           ("digest", written.digest), ("webhook", hooked)):
        if count:
            QUEUED.labels(channel).inc(count)
    if written.in_app or written.email or written.digest or hooked:
        log.info("notifications_queued", in_app=written.in_app, email=written.email,
                 digest=written.digest, webhook=hooked, recipients=planned.recipients)


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

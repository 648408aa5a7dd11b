"""Scoring's event handlers: decode → domain → repository → emit, inside the batch transaction."""

from __future__ import annotations

import json

import structlog

from contracts import CloudEvent
from contracts.events.campaigns import CampaignLaunched
from contracts.events.initiatives import InitiativeSubmitted, WorkRegistered
from contracts.events.rules import ScoringRules
from contracts.events.scores import ScoreChanged
from services.runtime.context import Context
from services.runtime.handlers import Handlers

from . import domain
from .repository import ScoringRepository

log = structlog.get_logger()
handlers = Handlers()
# Each campaign's rule set arrives with thidua.campaign.launched.v1 and is kept in
# campaign_rules; an event of a campaign whose launch scoring has not seen is scored under the
# published defaults.
DEFAULT_RULES = ScoringRules()


@handlers.batch
async def on_campaign_launched(
    ctx: Context[ScoringRepository], events: list[CloudEvent[CampaignLaunched]]
) -> None:
    await ctx.repo.keep_campaign_rules([
        (e.data.campaign_id, e.data.scoring.model_dump_json(),
         json.dumps([p.model_dump(mode="json") for p in e.data.phases]), e.data.launched_at)
        for e in events
    ])
    log.info("campaign_rules_kept", campaigns=len(events))


@handlers.batch
async def on_initiative_submitted(
    ctx: Context[ScoringRepository], events: list[CloudEvent[InitiativeSubmitted]]
) -> None:
    rules = await ctx.repo.rules_of([event.data.campaign_id for event in events])
    credits = [
        domain.Credit(event.id, event.district, event.data.campaign_id, event.data.phase_id,
                      event.data.unit_id, awarded)
        for event in events
        for awarded in domain.points_for_submission(
            event.data, rules.get(event.data.campaign_id, DEFAULT_RULES))
    ]
    await _record_and_announce(ctx, events, credits)


@handlers.batch
async def on_work_registered(
    ctx: Context[ScoringRepository], events: list[CloudEvent[WorkRegistered]]
) -> None:
    """A plaqued work earns its unit the campaign's plaqued_work_points."""
    rules = await ctx.repo.rules_of([event.data.campaign_id for event in events])
    credits = [
        domain.Credit(event.id, event.district, event.data.campaign_id, event.data.phase_id,
                      event.data.unit_id, domain.PointsAwarded(
                          "unit", event.data.unit_id,
                          rules.get(event.data.campaign_id, DEFAULT_RULES).plaqued_work_points,
                          "work_registered"))
        for event in events
    ]
    await _record_and_announce(ctx, events, credits)


async def _record_and_announce(
    ctx: Context[ScoringRepository], events: list[CloudEvent], credits: list[domain.Credit]
) -> None:
    causes = {event.id: event for event in events}
    recorded = await ctx.repo.record_points(credits)
    for line in recorded:
        credit = line.credit
        # One score.changed per subject and reason per batch, with the deltas summed.
        ctx.emit_coalesced(
            (credit.subject_key, credit.awarded.reason),
            ScoreChanged(
                unit_id=credit.unit_id, campaign_id=credit.campaign_id,
                phase_id=credit.phase_id, subject_kind=credit.awarded.subject_kind,
                subject_id=credit.awarded.subject_id, points_delta=credit.awarded.points,
                total_points=line.total, reason=credit.awarded.reason,
                source_event_id=credit.source_event_id, subject_version=line.version,
            ),
            cause=causes[credit.source_event_id],
            subject=credit.awarded.subject_id,
            merge=domain.merge_score_changes,
        )
    log.info("scores_recorded", events=len(events), ledger_lines=len(recorded))

"""Awards' event handlers: score changes re-evaluate their subjects' eligibility and count
towards the phase barrier; campaigns bring their rule sets; initiatives bring their facts and
re-evaluate the subjects whose accepted initiatives they change; a phase's final standings,
once every score change of the phase is applied, start its proposal round."""

from __future__ import annotations

import structlog

from contracts import CloudEvent
from contracts.events.awards import AwardEligibilityChanged
from contracts.events.campaigns import CampaignLaunched
from contracts.events.initiatives import InitiativeReviewed, InitiativeSubmitted
from contracts.events.scores import PhaseStandingsFinalized, ScoreChanged
from services.runtime.context import Context
from services.runtime.handlers import Handlers

from . import domain
from . import facts_repository as facts
from . import round_repository as rounds
from .repository import AwardsRepository, hold_phases
from .round_runner import run_round

log = structlog.get_logger()
handlers = Handlers()


async def _reevaluate(
    ctx: Context[AwardsRepository],
    standings: dict[domain.SubjectKey, tuple[CloudEvent, domain.Standing]],
) -> None:
    """Evaluate each subject's standing under its campaign's rule set, store every verdict and
    announce those that changed, each caused by the event given with its standing."""
    announced = await ctx.repo.announced(list(standings))
    rule_sets = await facts.rule_sets(ctx.conn, {s[0] for s in standings})
    evaluations: list[tuple[domain.SubjectKey, str, domain.Eligibility]] = []
    changes: list[tuple[domain.SubjectKey, CloudEvent, domain.Standing, domain.Eligibility]] = []
    for subject, (cause, standing) in standings.items():
        evaluated = domain.evaluate(standing, rule_sets.get(subject[0], domain.DEFAULT_RULES))
        evaluations += [(subject, standing.unit_id, e) for e in evaluated]
        changes += [(subject, cause, standing, c) for c in domain.changed(
            announced.get(subject, {}), evaluated)]
    await ctx.repo.record_eligibility(evaluations)
    for (campaign_id, phase_id, subject_kind, subject_id), cause, standing, change in changes:
        ctx.emit(
            AwardEligibilityChanged(
                unit_id=standing.unit_id, campaign_id=campaign_id, phase_id=phase_id,
                subject_kind=subject_kind, subject_id=subject_id, title=change.title,
                level=change.level, eligible=change.eligible, reason=change.reason,
            ),
            cause=cause, subject=subject_id,
        )
    if changes:
        log.info("eligibility_changed", subjects=len(standings), changes=len(changes))


@handlers.batch
async def on_score_changed(
    ctx: Context[AwardsRepository], events: list[CloudEvent[ScoreChanged]]
) -> None:
    updates = domain.standing_updates([(event.id, event.data) for event in events])
    await hold_phases(ctx.conn, {(e.data.campaign_id, e.data.phase_id) for e in events},
                      exclusive=False)
    standings = await ctx.repo.update_standings(updates)
    causes = {event.id: event for event in events}
    await _reevaluate(ctx, {u.subject: (causes[u.cause_id], standings[u.subject])
                            for u in updates})
    per_phase: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], CloudEvent] = {}
    for event in events:
        key = (event.data.campaign_id, event.data.phase_id)
        per_phase[key] = per_phase.get(key, 0) + 1
        last[key] = event
    for campaign_id, phase_id in await rounds.count_applied(ctx.conn, per_phase):
        await run_round(ctx, campaign_id, phase_id, last[(campaign_id, phase_id)])


@handlers.on
async def on_standings_finalized(
    ctx: Context[AwardsRepository], event: CloudEvent[PhaseStandingsFinalized]
) -> None:
    """Only the phase-wide event starts a round; a round waits (parked in `phase_progress`)
    until awards has applied as many score changes of the phase as it announces."""
    data = event.data
    if data.scope_kind != "phase":
        return
    expected = data.score_changed_count or 0
    if await rounds.record_finalized(ctx.conn, data.campaign_id, data.phase_id, expected,
                                     event.id, data.finalized_at):
        await run_round(ctx, data.campaign_id, data.phase_id, event)
    else:
        log.info("proposal_round_waiting", campaign_id=data.campaign_id,
                 phase_id=data.phase_id, expected_score_changes=expected)


@handlers.batch
async def on_campaign_launched(
    ctx: Context[AwardsRepository], events: list[CloudEvent[CampaignLaunched]]
) -> None:
    await facts.record_campaigns(ctx.conn, [e.data for e in events])


@handlers.batch
async def on_initiative_submitted(
    ctx: Context[AwardsRepository], events: list[CloudEvent[InitiativeSubmitted]]
) -> None:
    await hold_phases(ctx.conn, {(e.data.campaign_id, e.data.phase_id) for e in events},
                      exclusive=True)
    await facts.record_authors(ctx.conn, [e.data for e in events])
    await _recount(ctx, events)  # authors seen after the acceptance


@handlers.batch
async def on_initiative_reviewed(
    ctx: Context[AwardsRepository], events: list[CloudEvent[InitiativeReviewed]]
) -> None:
    accepted = [e for e in events if e.data.outcome == "accepted"]
    await hold_phases(ctx.conn, {(e.data.campaign_id, e.data.phase_id) for e in accepted},
                      exclusive=True)
    await facts.record_reviews(ctx.conn, [e.data for e in accepted])
    await _recount(ctx, accepted)


async def _recount(ctx: Context[AwardsRepository], events: list[CloudEvent]) -> None:
    """Re-evaluate the scored subjects these initiatives' events count for (authors, the
    submitting unit), each caused by the latest event of the batch that reached it."""
    latest = {e.data.initiative_id: e for e in events}
    standings = await ctx.repo.recount_accepted(list(latest))
    await _reevaluate(ctx, {subject: (latest[initiative_id], standing)
                            for subject, (initiative_id, standing) in standings.items()})

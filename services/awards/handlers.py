"""Awards' event handlers: score changes re-evaluate their subjects' eligibility."""

from __future__ import annotations

import structlog

from contracts import CloudEvent
from contracts.events.awards import AwardEligibilityChanged
from contracts.events.scores import ScoreChanged
from services.runtime.context import Context
from services.runtime.handlers import Handlers

from . import domain
from .repository import AwardsRepository

log = structlog.get_logger()
handlers = Handlers()


@handlers.batch
async def on_score_changed(
    ctx: Context[AwardsRepository], events: list[CloudEvent[ScoreChanged]]
) -> None:
    updates = domain.standing_updates([(event.id, event.data) for event in events])
    standings = await ctx.repo.update_standings(updates)
    announced = await ctx.repo.announced(list(standings))
    causes = {event.id: event for event in events}
    evaluations: list[tuple[domain.SubjectKey, str, domain.Eligibility]] = []
    changes: list[tuple[domain.StandingUpdate, domain.Standing, domain.Eligibility]] = []
    for update in updates:
        standing = standings[update.subject]
        evaluated = domain.evaluate(standing, domain.DEFAULT_RULES)
        evaluations += [(update.subject, standing.unit_id, e) for e in evaluated]
        changes += [(update, standing, c) for c in domain.changed(
            announced.get(update.subject, {}), evaluated)]
    await ctx.repo.record_eligibility(evaluations)
    for update, standing, change in changes:
        campaign_id, phase_id, subject_kind, subject_id = update.subject
        ctx.emit(
            AwardEligibilityChanged(
                unit_id=standing.unit_id, campaign_id=campaign_id, phase_id=phase_id,
                subject_kind=subject_kind, subject_id=subject_id, title=change.title,
                level=change.level, eligible=change.eligible, reason=change.reason,
            ),
            cause=causes[update.cause_id], subject=subject_id,
        )
    if changes:
        log.info("eligibility_changed", events=len(events), changes=len(changes))

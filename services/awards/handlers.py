"""Awards' event handlers: a score change re-evaluates the subject's eligibility."""

from __future__ import annotations

import asyncpg
import structlog

from contracts import CloudEvent, new_event
from contracts.events.awards import AwardEligibilityChanged
from contracts.events.rules import AwardRules
from contracts.events.scores import ScoreChanged
from services.runtime import outbox

from . import domain, repository

log = structlog.get_logger()
SOURCE = "/thidua/awards"
# Campaign rule sets arrive with thidua.campaign.launched.v1; until awards keeps them, the
# published defaults apply.
DEFAULT_RULES = AwardRules()


async def on_score_changed(conn: asyncpg.Connection, event: CloudEvent) -> None:
    score: ScoreChanged = event.data
    subject = {"campaign_id": score.campaign_id, "phase_id": score.phase_id,
                   "subject_kind": score.subject_kind, "subject_id": score.subject_id}
    accepted = await repository.update_standing(
        conn, **subject, unit_id=score.unit_id, total_points=score.total_points,
        accepted_delta=1 if score.reason == "initiative_accepted" else 0,
    )
    standing = domain.Standing(score.subject_kind, score.total_points, accepted)
    changes = domain.changed(
        await repository.announced(conn, **subject),
        domain.evaluate(standing, DEFAULT_RULES),
    )
    if not changes:
        return
    await repository.record_eligibility(conn, **subject, unit_id=score.unit_id, changes=changes)
    await outbox.enqueue(conn, [
        new_event(
            AwardEligibilityChanged(
                unit_id=score.unit_id, campaign_id=score.campaign_id, phase_id=score.phase_id,
                subject_kind=score.subject_kind, subject_id=score.subject_id,
                title=change.title, level=change.level, eligible=change.eligible,
                reason=change.reason,
            ),
            source=SOURCE, district=event.district, correlation_id=event.correlationid,
            causation_id=event.id, subject=score.subject_id,
        )
        for change in changes
    ])
    log.info("eligibility_changed", subject_id=score.subject_id,
             titles=[f"{c.title}:{c.eligible}" for c in changes])


HANDLERS = {ScoreChanged.event_type: on_score_changed}

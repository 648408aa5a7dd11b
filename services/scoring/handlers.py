"""Scoring's event handlers: decode → domain → repository → outbox, inside the batch transaction."""

from __future__ import annotations

import asyncpg
import structlog

from contracts import CloudEvent, new_event
from contracts.events.initiatives import InitiativeSubmitted
from contracts.events.rules import ScoringRules
from contracts.events.scores import ScoreChanged
from services.runtime import outbox

from . import domain, repository

log = structlog.get_logger()
SOURCE = "/thidua/scoring"
# Campaign rule sets arrive with thidua.campaign.launched.v1; until scoring keeps them, the
# published defaults apply.
DEFAULT_RULES = ScoringRules()


async def on_initiative_submitted(conn: asyncpg.Connection, event: CloudEvent) -> None:
    initiative: InitiativeSubmitted = event.data
    changes = []
    for awarded in domain.points_for_submission(initiative, DEFAULT_RULES):
        total = await repository.record_points(
            conn,
            campaign_id=initiative.campaign_id,
            phase_id=initiative.phase_id,
            unit_id=initiative.unit_id,
            district=event.district,
            awarded=awarded,
            source_event_id=event.id,
        )
        if total is None:
            continue
        changes.append(
            new_event(
                ScoreChanged(
                    unit_id=initiative.unit_id,
                    campaign_id=initiative.campaign_id,
                    phase_id=initiative.phase_id,
                    subject_kind=awarded.subject_kind,
                    subject_id=awarded.subject_id,
                    points_delta=awarded.points,
                    total_points=total,
                    reason=awarded.reason,
                    source_event_id=event.id,
                ),
                source=SOURCE,
                district=event.district,
                correlation_id=event.correlationid,
                causation_id=event.id,
                subject=awarded.subject_id,
            )
        )
    await outbox.enqueue(conn, changes)
    log.info("score_recorded", initiative_id=initiative.initiative_id, changes=len(changes))


HANDLERS = {InitiativeSubmitted.event_type: on_initiative_submitted}

"""Closing a phase: the barrier of DESIGN.md property 2.

One transaction locks the phase row FOR UPDATE — which waits for every command holding it FOR
KEY SHARE (`phase_gate.enter`, the submission's statement) and makes every later one wait and
then find it closed — refuses while an initiative awaits its first review, counts per event
type everything registration committed for the phase (from the tables the events came from,
which commit with their outbox rows), and stores the close with `thidua.phase.closed.v1`.
Those counts are exactly what was emitted for the phase, so a consumer finalizes once it has
applied as many."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import structlog
from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from contracts.events.campaigns import PhaseClosed
from services.runtime import command_runs, idempotency, outbox
from services.runtime.access import Scope
from services.runtime.domain_errors import Conflict, NotFound
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import phase_gate
from .answers import to_json
from .campaign_api import LAUNCHERS
from .campaign_domain import CampaignNotFound, phase_of
from .campaign_domain import PhaseClosed as PhaseAlreadyClosed
from .phase_metrics import PHASE_CLOSES

log = structlog.get_logger()
router = APIRouter(tags=["campaigns"])

# Shown in full up to this many; the count says how many more.
PENDING_SHOWN = 100

_LOCK = """SELECT closed_at FROM campaign_phases WHERE campaign_id = $1 AND phase_id = $2
           FOR UPDATE"""
_PENDING = """
    SELECT initiative_id, unit_id, count(*) OVER () AS total FROM initiatives AS i
    WHERE campaign_id = $1 AND phase_id = $2
      AND NOT EXISTS (SELECT FROM initiative_reviews AS r WHERE r.initiative_id = i.initiative_id)
    ORDER BY initiative_id LIMIT $3"""
ACCEPTED_COUNTS = """
    SELECT 'thidua.initiative.submitted.v1', count(*) FROM initiatives
     WHERE campaign_id = $1 AND phase_id = $2
    UNION ALL
    SELECT 'thidua.initiative.reviewed.v1', count(*)
      FROM initiative_reviews JOIN initiatives USING (initiative_id)
     WHERE campaign_id = $1 AND phase_id = $2
    UNION ALL
    SELECT 'thidua.emulation.registered.v1', count(*) FROM emulation_registrations
     WHERE campaign_id = $1 AND phase_id = $2
    UNION ALL
    SELECT 'thidua.pledge.signed.v1', count(*) FROM pledge_signatories JOIN pledges USING (pledge_id)
     WHERE campaign_id = $1 AND phase_id = $2
    UNION ALL
    SELECT 'thidua.pledge.result_reported.v1', count(*)
      FROM pledge_results JOIN pledges USING (pledge_id)
     WHERE campaign_id = $1 AND phase_id = $2
    UNION ALL
    SELECT 'thidua.work.registered.v1', count(*) FROM works
     WHERE campaign_id = $1 AND phase_id = $2 AND status = 'approved'"""
_CLOSE = """UPDATE campaign_phases SET closed_at = $3, closed_by = $4::jsonb,
                   close_event_id = $5, accepted_counts = $6::jsonb
            WHERE campaign_id = $1 AND phase_id = $2"""


class ReviewsPending(Conflict):
    def __init__(self, phase_id: str, pending: list[asyncpg.Record]) -> None:
        total = pending[0]["total"]
        super().__init__("reviews_pending", f"phase {phase_id} closes once every initiative "
                         f"submitted to it was reviewed; {total} await their first review",
                         field="phase_id")
        self.items = [("review_pending", f"initiative {p['initiative_id']} of unit "
                       f"{p['unit_id']} awaits its council's review", "initiative_id")
                      for p in pending]


class PhaseClosedAnswer(BaseModel):
    campaign_id: str
    phase_id: str
    closed_at: datetime
    accepted_counts: dict[str, int] = Field(description="Per event type, the events for the "
                                                        "phase committed before the close.")
    event_id: str = Field(description="Id of the `thidua.phase.closed.v1` event.")
    correlation_id: str


async def close_phase_in(conn: asyncpg.Connection, campaign_id: str,
                         phase_id: str) -> dict[str, int]:
    """Lock the phase, check it may close, and count what it accepted (in the transaction)."""
    if await conn.fetchval(_LOCK, campaign_id, phase_id) is not None:
        raise PhaseAlreadyClosed(campaign_id, phase_id)
    pending = await conn.fetch(_PENDING, campaign_id, phase_id, PENDING_SHOWN)
    if pending:
        raise ReviewsPending(phase_id, pending)
    return {row[0]: row[1] for row in await conn.fetch(ACCEPTED_COUNTS, campaign_id, phase_id)}


@router.post("/campaigns/{campaign_id}/phases/{phase_id}/close", status_code=status.HTTP_200_OK,
             response_model=PhaseClosedAnswer,
             responses=problem_responses(401, 403, 404, 409, 422, 503))
async def close_phase(campaign_id: Identifier, phase_id: Identifier, request: Request,
                      scope: Annotated[Scope, Depends(LAUNCHERS)],
                      idempotency_key: idempotency.IdempotencyKey = None) -> Response:
    """Close the phase: refused (409 `reviews_pending`, one `review_pending` entry per
    initiative, the first 100) while initiatives await review; else emits
    `thidua.phase.closed.v1` (key: the campaign) with `accepted_counts`. Nothing for the phase
    is accepted afterwards (409 `phase_closed`)."""
    runtime = request.app.state.runtime
    reach = await phase_gate.campaign(request, campaign_id)
    try:
        organizer = await scope.require_acting_on(reach.organizer_unit_id)
    except NotFound:
        raise CampaignNotFound(campaign_id) from None
    phase_of(reach, phase_id)

    async def work(conn) -> bytes:
        counts = await close_phase_in(conn, campaign_id, phase_id)
        now = datetime.now(UTC)
        data = PhaseClosed(actor=scope.actor, campaign_id=campaign_id, phase_id=phase_id,
                           closed_at=now,
                           closed_by_unit_id=scope.caller.unit_id or organizer.unit_id,
                           accepted_counts=counts)
        event = runtime.envelopes.for_command(data, district=organizer.district_id,
                                              correlation_id=request.state.correlation_id,
                                              subject=f"{campaign_id}/{phase_id}")
        await conn.execute(_CLOSE, campaign_id, phase_id, now, scope.actor.model_dump_json(),
                           event.id, json.dumps(counts))
        await outbox.enqueue(conn, [event])
        log.info("phase_closed", campaign_id=campaign_id, phase_id=phase_id,
                 accepted_counts=counts, event_id=event.id)
        return to_json(PhaseClosedAnswer(campaign_id=campaign_id, phase_id=phase_id,
                                         closed_at=now, accepted_counts=counts,
                                         event_id=event.id, correlation_id=event.correlationid))

    try:
        route = f"/campaigns/{campaign_id}/phases/{phase_id}/close"
        answer = await command_runs.run(
            request.app.state.runtime.pool, idempotency_key,
            idempotency.fingerprint("POST", route, None, caller=scope.caller.subject), 200, work)
    except (ReviewsPending, PhaseAlreadyClosed) as exc:
        PHASE_CLOSES.labels(outcome=exc.code).inc()
        raise
    PHASE_CLOSES.labels(outcome="closed").inc()
    return answer

"""Running a phase's proposal round inside the batch that completes its barrier: PostgreSQL
places every candidate, stores each placement and announces each proposal within quota as
`thidua.award.proposed.v1` (`round_placement`, set-based, held to the pure `proposal_round` by
the tests)."""

from __future__ import annotations

import time
from datetime import timedelta

import structlog

from contracts import CloudEvent
from contracts.topics import AWARDS
from services.runtime.access import today_in_vietnam
from services.runtime.context import Context

from . import round_repository as rounds
from .round_placement import place
from .round_records import RoundStamp
from .round_tables import round_settings

log = structlog.get_logger()


async def run_round(ctx: Context, campaign_id: str, phase_id: str, cause: CloudEvent) -> None:
    now = ctx.now()
    if not await rounds.claim_round(ctx.conn, campaign_id, phase_id, now):
        return
    started = time.perf_counter()
    rules, year, basis = await rounds.campaign_rules(ctx.conn, campaign_id, now.year)
    stamp = RoundStamp(campaign_id, phase_id, year, now,
                       now + timedelta(days=rules.disclosure_days), AWARDS.name,
                       cause.correlationid, cause.id)
    async with round_settings(ctx.conn):
        placements, announced = await place(ctx.conn, stamp, rules, today_in_vietnam(now),
                                            basis)
    log.info("proposal_round_done", campaign_id=campaign_id, phase_id=phase_id,
             placements=placements, proposed=announced,
             seconds=round(time.perf_counter() - started, 3))

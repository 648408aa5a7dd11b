"""Running a phase's proposal round inside the batch that completes its barrier: PostgreSQL
places every candidate (`round_placement`, set-based, held to the pure `proposal_round` by the
tests), then one statement stores the placements and announces each proposal within quota as
`thidua.award.proposed.v1` (`round_repository.store_and_announce`)."""

from __future__ import annotations

import time
from datetime import timedelta

import structlog

from contracts import CloudEvent
from services.runtime.access import today_in_vietnam
from services.runtime.context import Context

from . import round_repository as rounds
from .round_placement import place, round_settings

log = structlog.get_logger()


async def run_round(ctx: Context, campaign_id: str, phase_id: str, cause: CloudEvent) -> None:
    now = ctx.now()
    if not await rounds.claim_round(ctx.conn, campaign_id, phase_id, now):
        return
    started = time.perf_counter()
    rules, year, basis = await rounds.campaign_rules(ctx.conn, campaign_id, now.year)
    today = today_in_vietnam(now)
    async with round_settings(ctx.conn):
        placements = await place(ctx.conn, campaign_id, phase_id, rules, year, today, basis)
        placed = time.perf_counter()
        stored, announced = await rounds.store_and_announce(
            ctx.conn, campaign_id, phase_id, year, now, timedelta(days=rules.disclosure_days),
            cause, today)
    log.info("proposal_round_done", campaign_id=campaign_id, phase_id=phase_id,
             placements=placements, stored=stored, proposed=announced,
             place_s=round(placed - started, 3),
             store_s=round(time.perf_counter() - placed, 3))

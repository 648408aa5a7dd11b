"""Running a phase's proposal round inside the batch that completes its barrier: gather the
facts, place every candidate (`proposal_round`), store the placements and announce each
proposal within quota as `thidua.award.proposed.v1` (written by one statement: see
`round_repository.store_and_announce`)."""

from __future__ import annotations

import time
from datetime import timedelta

import structlog

from contracts import CloudEvent
from services.runtime.access import today_in_vietnam
from services.runtime.context import Context

from . import round_repository as rounds
from .proposal_round import propose

log = structlog.get_logger()


async def run_round(ctx: Context, campaign_id: str, phase_id: str, cause: CloudEvent) -> None:
    now = ctx.now()
    if not await rounds.claim_round(ctx.conn, campaign_id, phase_id, now):
        return
    started = time.perf_counter()
    rules, year, basis = await rounds.campaign_rules(ctx.conn, campaign_id, now.year)
    candidates = await rounds.candidates(
        ctx.conn, campaign_id, phase_id, year, today_in_vietnam(now), basis)
    gathered = time.perf_counter()
    placements = propose(candidates, rules, year)
    placed = time.perf_counter()
    disclosure = timedelta(days=rules.disclosure_days)
    stored, announced = await rounds.store_and_announce(
        ctx.conn, campaign_id, phase_id, year, placements, now, disclosure, cause,
        today_in_vietnam(now))
    log.info("proposal_round_done", campaign_id=campaign_id, phase_id=phase_id,
             candidates=len(candidates), placements=len(placements), stored=stored,
             proposed=announced, gather_s=round(gathered - started, 3),
             place_s=round(placed - gathered, 3),
             store_s=round(time.perf_counter() - placed, 3))

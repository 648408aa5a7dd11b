"""Running a phase's proposal round inside the batch that completes its barrier: gather the
facts, place every candidate (`proposal_round`), store the placements and announce each
proposal within quota as `thidua.award.proposed.v1`."""

from __future__ import annotations

from datetime import timedelta

import structlog

from contracts import CloudEvent
from contracts.events.awards import AwardProposed
from services.runtime.access import today_in_vietnam
from services.runtime.context import Context

from . import round_repository as rounds
from .proposal_round import PROPOSED, propose

log = structlog.get_logger()


async def run_round(ctx: Context, campaign_id: str, phase_id: str, cause: CloudEvent) -> None:
    now = ctx.now()
    if not await rounds.claim_round(ctx.conn, campaign_id, phase_id, now):
        return
    rules, year, basis = await rounds.campaign_rules(ctx.conn, campaign_id, now.year)
    candidates, districts = await rounds.candidates(
        ctx.conn, campaign_id, phase_id, year, today_in_vietnam(now), basis)
    placements = propose(candidates, rules, year)
    disclosure = timedelta(days=rules.disclosure_days)
    stored = set(await rounds.store_placements(ctx.conn, campaign_id, phase_id, year,
                                               placements, now, disclosure))
    announced = 0
    for p in placements:
        c = p.candidate
        pid = rounds.proposal_id(campaign_id, phase_id, p.title, p.level, c.subject_kind,
                                 c.subject_id)
        if p.status != PROPOSED or pid not in stored:
            continue
        ctx.emit(AwardProposed(
            unit_id=c.unit_id, campaign_id=campaign_id, subject_kind=c.subject_kind,
            subject_id=c.subject_id, title=p.title, level=p.level, proposal_id=pid,
            phase_id=phase_id, subject_name=c.name, issuer_unit_id=p.issuer_unit_id,
            points=c.points, quota=p.quota, quota_rank=p.rank, tie_break=p.tie_break,
            proposed_at=now, candidate_count=p.candidate_count, cluster_id=p.cluster_id,
            disclosure_ends_at=now + disclosure,
        ), cause=cause, subject=c.subject_id, district=districts.get(c.unit_id))
        announced += 1
    log.info("proposal_round_done", campaign_id=campaign_id, phase_id=phase_id,
             candidates=len(candidates), placements=len(placements), proposed=announced)

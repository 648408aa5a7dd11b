"""Running a phase's proposal round inside the batch that completes its barrier: PostgreSQL
places every candidate, stores each placement and announces each proposal within quota as
`thidua.award.proposed.v1` (`round_placement`, set-based, held to the pure `proposal_round` by
the tests)."""

from __future__ import annotations

import time
from datetime import timedelta

import structlog
from prometheus_client import Counter, Histogram

from contracts import CloudEvent
from contracts.topics import AWARDS
from services.runtime.access import today_in_vietnam
from services.runtime.context import Context

from . import round_repository as rounds
from .round_placement import place
from .round_records import RoundStamp
from .round_tables import round_settings

log = structlog.get_logger()

# What ops watch of proposal rounds: how long each took (a city's round takes minutes), and how
# many placements it stored and proposals it announced. Counted when the round runs: a batch
# that then fails runs it again and counts again.
ROUND_DURATION = Histogram(
    "thidua_awards_round_duration_seconds",
    "Time from a proposal round's claim to its last statement (placing, storing, announcing).",
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1200))
ROUND_ROWS = Counter(
    "thidua_awards_round_rows_total",
    "Rows written by proposal rounds: `placement` (every placement stored in proposals), "
    "`announced` (each award.proposed written to the outbox).", ["kind"])


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
    seconds = time.perf_counter() - started
    ROUND_DURATION.observe(seconds)
    ROUND_ROWS.labels("placement").inc(placements)
    ROUND_ROWS.labels("announced").inc(announced)
    log.info("proposal_round_done", campaign_id=campaign_id, phase_id=phase_id,
             placements=placements, proposed=announced, seconds=round(seconds, 3))

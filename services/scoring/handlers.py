"""Scoring's event handlers: events → facts → prices under the campaign's rules → totals and
score changes, inside the batch transaction, behind the phase-close barrier.

A batch of mixed types reaches the handlers as many runs of one type each. Facts do not depend
on the order of types within a batch (a fact's state is replaced by the latest occurred, a
pledged target never undoes a reported one), so each handler only admits its events past the
barrier and gathers their facts in the batch's `BatchWork`; the batch's end writes them and
reprices everything they touched in a handful of set-based statements (`_settle`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import structlog
from prometheus_client import Counter as Metric

from contracts import CloudEvent, decode_event
from contracts.events.campaigns import CampaignLaunched, PhaseClosed
from contracts.events.initiatives import InitiativeReviewed, InitiativeSubmitted, WorkRegistered
from contracts.events.participation import (
    EmulationRegistered,
    PledgeResultReported,
    PledgeSigned,
)
from contracts.events.scores import PhaseStandingsFinalized, ScoreChanged
from services.runtime.context import Context
from services.runtime.handlers import Handlers
from services.runtime.logs import bind_events, unbind_event

from . import facts
from .barrier import SCORE_CHANGES
from .batch_work import BatchWork
from .repository import ScoringRepository, SubjectChange

log = structlog.get_logger()
handlers = Handlers()

# The event types whose counts the barrier compares with phase.closed's accepted_counts.
SCORED_TYPES = tuple(model.event_type for model in (
    InitiativeSubmitted, InitiativeReviewed, WorkRegistered, EmulationRegistered, PledgeSigned,
    PledgeResultReported))

PHASES_FINALIZED = Metric("thidua_scoring_phases_finalized_total",
                          "Phases whose standings scoring finalized.")
SCORE_CHANGES_EMITTED = Metric("thidua_scoring_score_changes_total",
                               "score.changed events emitted (after coalescing).")


@handlers.batch
async def on_campaign_launched(
    ctx: Context[ScoringRepository], events: list[CloudEvent[CampaignLaunched]]
) -> None:
    """Keep each campaign's rule set; at the batch's end, reprice the facts of its phases not
    finalized (a launch seen after some of its events scores them under its rules, as if it
    had come first)."""
    await ctx.repo.keep_campaign_rules([
        (e.data.campaign_id, e.data.scoring.model_dump_json(),
         json.dumps([p.model_dump(mode="json") for p in e.data.phases]), e.data.launched_at,
         e.data.organizer_unit_id, e.data.year)
        for e in events
    ])
    work = _work(ctx)
    for e in sorted(events, key=lambda e: e.data.launched_at):
        work.launches[e.data.campaign_id] = e
    log.info("campaign_rules_kept", campaigns=len(events))


@handlers.batch
async def on_phase_closed(
    ctx: Context[ScoringRepository], events: list[CloudEvent[PhaseClosed]]
) -> None:
    """Record the close; the phase is finalized at this batch's end if everything it counts is
    applied by then, else by the batch that applies its last event."""
    await ctx.repo.barrier.close(events)
    _work(ctx)
    log.info("phases_closed", phases=[(e.data.campaign_id, e.data.phase_id) for e in events])


@handlers.batch
async def on_initiative_submitted(
    ctx: Context[ScoringRepository], events: list[CloudEvent[InitiativeSubmitted]]
) -> None:
    """Participation for the unit and each author; the authors also share the review's
    points (a review seen before its submission gets them now)."""
    work = await _admitted(ctx, events)
    for s in facts.submissions(work.last_admitted):
        work.submissions.append(s)
        work.facts.append(s.fact)
        work.initiatives.add(s.initiative_id)


@handlers.batch
async def on_initiative_reviewed(
    ctx: Context[ScoringRepository], events: list[CloudEvent[InitiativeReviewed]]
) -> None:
    """An accepted initiative earns its unit and each author the rule set's points for its
    level and grade; a higher level's acceptance replaces a lower one's points."""
    work = await _admitted(ctx, events)
    work.reviews += facts.reviews(work.last_admitted)
    work.initiatives |= {e.data.initiative_id for e in work.last_admitted}


@handlers.batch
async def on_work_registered(
    ctx: Context[ScoringRepository], events: list[CloudEvent[WorkRegistered]]
) -> None:
    """A plaqued work earns its unit the campaign's plaqued_work_points."""
    work = await _admitted(ctx, events)
    work.facts += facts.works(work.last_admitted)


@handlers.batch
async def on_emulation_registered(
    ctx: Context[ScoringRepository], events: list[CloudEvent[EmulationRegistered]]
) -> None:
    work = await _admitted(ctx, events)
    work.facts += facts.registrations(work.last_admitted)


@handlers.batch
async def on_pledge_signed(
    ctx: Context[ScoringRepository], events: list[CloudEvent[PledgeSigned]]
) -> None:
    work = await _admitted(ctx, events)
    work.pledged += facts.pledged_targets(work.last_admitted)


@handlers.batch
async def on_pledge_result_reported(
    ctx: Context[ScoringRepository], events: list[CloudEvent[PledgeResultReported]]
) -> None:
    work = await _admitted(ctx, events)
    work.facts += facts.target_results(work.last_admitted)


def _work(ctx: Context[ScoringRepository]) -> BatchWork:
    """The batch's work, settled once at its end."""
    work = ctx.repo.work
    ctx.at_batch_end("scoring", lambda: _settle(ctx, work))
    return work


async def _admitted(ctx: Context[ScoringRepository], events: Sequence[CloudEvent]) -> BatchWork:
    """Admit the events of phases not finalized (the others are kept as late) into the work."""
    work = _work(ctx)
    on_time = await ctx.repo.barrier.admit(events)
    work.admit(on_time)
    return work


async def _settle(ctx: Context[ScoringRepository], work: BatchWork) -> None:
    """Write the batch's facts, reprice what they touched, announce the subjects whose totals
    changed, count what was applied, and finalize the phases this completes; logged with the
    correlation ids of the events applied."""
    applied = list(work.causes.values()) or list(work.launches.values())
    if applied:
        bind_events(applied)
    try:
        await _settle_bound(ctx, work)
    finally:
        unbind_event()


async def _settle_bound(ctx: Context[ScoringRepository], work: BatchWork) -> None:
    repo = ctx.repo
    pledged = facts.latest_per_fact(work.pledged)
    pledged_ids = {f.fact_id for f in pledged}
    results = facts.latest_per_fact(work.facts)
    # A pledged target is written before a result of the same target, which then wins: one
    # statement cannot change a row twice, so those results follow with the next statement.
    touched = [f.fact_id for f in work.pledged + work.facts]
    touched += await repo.record(work.submissions, work.reviews,
                                 pledged + [f for f in results if f.fact_id not in pledged_ids],
                                 sorted(work.initiatives))
    await repo.follow([f for f in results if f.fact_id in pledged_ids])
    if not work.launches:
        # The usual batch: the reprice also appends the counts, those of the subjects it
        # announces included (one per subject: the statement returns each subject once).
        counts = Counter(work.counts)
        if touched or counts:
            changes = await repo.reprice(touched, counts=counts, announced_counter=SCORE_CHANGES)
            _announce(ctx, work, changes, work.causes)
    else:
        _announce(ctx, work, await repo.reprice(touched) if touched else [], work.causes)
        open_facts = await repo.open_facts_of(sorted(work.launches))
        finalized = await repo.barrier.hold({(c, p) for _, c, p in open_facts})
        for campaign_id, launch in work.launches.items():
            ids = [f for f, c, p in open_facts if c == campaign_id and (c, p) not in finalized]
            if ids:
                _announce(ctx, work, await repo.reprice(ids, cause_event_id=launch.id),
                          {launch.id: launch})
        await repo.barrier.count(work.counts)
    if work.admitted:
        log.info("scores_recorded", events=work.admitted, subjects_changed=len(work.announced))
    await _finalize(ctx)


def _announce(
    ctx: Context[ScoringRepository], work: BatchWork, changes: Sequence[SubjectChange],
    causes: dict[str, CloudEvent],
) -> None:
    """One score.changed per subject whose total the batch changed: a subject changed again by
    a later statement of the batch is merged into its first announcement (deltas summed, the
    later total and version). Caused by the event of its last ledger line."""
    for c in changes:
        key = (c.campaign_id, c.phase_id, c.subject_kind, c.subject_id)
        if key not in work.announced:
            work.announced.add(key)
            work.counts[(c.campaign_id, c.phase_id, SCORE_CHANGES)] += 1
            SCORE_CHANGES_EMITTED.inc()
        ctx.emit_coalesced(
            key,
            # Built from the database's own typed row: validating ~1 model per event costs
            # more than the statement that computed it.
            ScoreChanged.model_construct(
                unit_id=c.unit_id, campaign_id=c.campaign_id, phase_id=c.phase_id,
                subject_kind=c.subject_kind, subject_id=c.subject_id,
                points_delta=c.points_delta, total_points=c.total_points, reason=c.reason,
                source_event_id=c.source_event_id, subject_version=c.version,
            ),
            cause=causes.get(c.source_event_id) or work.last_cause(causes),
            subject=c.subject_id, merge=_merge,
        )


def _merge(staged: ScoreChanged, later: ScoreChanged) -> ScoreChanged:
    return later.model_copy(update={"points_delta": staged.points_delta + later.points_delta})


async def _finalize(ctx: Context[ScoringRepository]) -> None:
    for done in await ctx.repo.barrier.finalize_ready(SCORED_TYPES):
        close = decode_event(done.close_event.encode())
        ctx.emit(
            PhaseStandingsFinalized(
                unit_id=done.organizer_unit_id, campaign_id=done.campaign_id,
                phase_id=done.phase_id, scope_kind="phase", scope_id=done.phase_id,
                entries=[], finalized_at=ctx.now(),
                score_changed_count=done.score_changed_count,
            ),
            cause=close, subject=done.phase_id,
        )
        PHASES_FINALIZED.inc()
        log.info("phase_standings_finalized", campaign_id=done.campaign_id,
                 phase_id=done.phase_id, score_changed_count=done.score_changed_count)

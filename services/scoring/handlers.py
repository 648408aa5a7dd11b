"""Scoring's event handlers: events → facts → prices under the campaign's rules → totals and
score changes, inside the batch transaction, behind the phase-close barrier."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

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

from . import facts
from .barrier import SCORE_CHANGES, PhaseKey
from .repository import ScoringRepository, SubjectChange

log = structlog.get_logger()
handlers = Handlers()
EventT = TypeVar("EventT", bound=CloudEvent)

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
    """Keep each campaign's rule set; reprice the facts of its phases not finalized (a launch
    seen after some of its events scores them under its rules, as if it had come first)."""
    await ctx.repo.keep_campaign_rules([
        (e.data.campaign_id, e.data.scoring.model_dump_json(),
         json.dumps([p.model_dump(mode="json") for p in e.data.phases]), e.data.launched_at,
         e.data.organizer_unit_id, e.data.year)
        for e in events
    ])
    latest = {e.data.campaign_id: e for e in sorted(events, key=lambda e: e.data.launched_at)}
    open_facts = await ctx.repo.open_facts_of(sorted(latest))
    if open_facts:
        finalized = await ctx.repo.barrier.hold({(c, p) for _, c, p in open_facts})
        counts: Counter[tuple[str, str, str]] = Counter()
        for campaign_id, launch in latest.items():
            ids = [f for f, c, p in open_facts if c == campaign_id and (c, p) not in finalized]
            changes = await ctx.repo.reprice(ids, cause_event_id=launch.id)
            _announce(ctx, changes, {}, launch, counts)
        await ctx.repo.barrier.count(counts)
        await _finalize(ctx)
    log.info("campaign_rules_kept", campaigns=len(events), repriced_facts=len(open_facts))


@handlers.batch
async def on_phase_closed(
    ctx: Context[ScoringRepository], events: list[CloudEvent[PhaseClosed]]
) -> None:
    """Record the close; the phase is finalized now if everything it counts is applied, else
    by the batch that applies its last event."""
    await ctx.repo.barrier.close(events)
    log.info("phases_closed", phases=[(e.data.campaign_id, e.data.phase_id) for e in events])
    await _finalize(ctx)


@handlers.batch
async def on_initiative_submitted(
    ctx: Context[ScoringRepository], events: list[CloudEvent[InitiativeSubmitted]]
) -> None:
    async def write(events: list[CloudEvent[InitiativeSubmitted]]) -> list[str]:
        submissions = facts.submissions(events)
        await ctx.repo.record_submissions(submissions)
        await ctx.repo.record_facts(facts.latest_per_fact(s.fact for s in submissions))
        # A review seen before its submission now gets the authors.
        reviewed = await ctx.repo.refresh_initiative_facts(
            [s.initiative_id for s in submissions])
        return [s.fact.fact_id for s in submissions] + reviewed

    await _score(ctx, events, write)


@handlers.batch
async def on_initiative_reviewed(
    ctx: Context[ScoringRepository], events: list[CloudEvent[InitiativeReviewed]]
) -> None:
    """An accepted initiative earns its unit and each author the rule set's points for its
    level and grade; a higher level's acceptance replaces a lower one's points."""
    async def write(events: list[CloudEvent[InitiativeReviewed]]) -> list[str]:
        await ctx.repo.record_reviews(facts.reviews(events))
        return await ctx.repo.refresh_initiative_facts([e.data.initiative_id for e in events])

    await _score(ctx, events, write)


def _writing(derive: Callable[[list], list[facts.Fact]], ctx: Context[ScoringRepository]):
    async def write(events: list[CloudEvent]) -> list[str]:
        found = facts.latest_per_fact(derive(events))
        await ctx.repo.record_facts(found)
        return [f.fact_id for f in found]
    return write


@handlers.batch
async def on_work_registered(
    ctx: Context[ScoringRepository], events: list[CloudEvent[WorkRegistered]]
) -> None:
    """A plaqued work earns its unit the campaign's plaqued_work_points."""
    await _score(ctx, events, _writing(facts.works, ctx))


@handlers.batch
async def on_emulation_registered(
    ctx: Context[ScoringRepository], events: list[CloudEvent[EmulationRegistered]]
) -> None:
    await _score(ctx, events, _writing(facts.registrations, ctx))


@handlers.batch
async def on_pledge_signed(
    ctx: Context[ScoringRepository], events: list[CloudEvent[PledgeSigned]]
) -> None:
    await _score(ctx, events, _writing(facts.pledged_targets, ctx))


@handlers.batch
async def on_pledge_result_reported(
    ctx: Context[ScoringRepository], events: list[CloudEvent[PledgeResultReported]]
) -> None:
    await _score(ctx, events, _writing(facts.target_results, ctx))


async def _score(
    ctx: Context[ScoringRepository], events: Sequence[EventT],
    write: Callable[[list[EventT]], Awaitable[list[str]]],
) -> None:
    """Apply the events of phases not finalized (the others are kept as late), announce the
    subjects whose totals changed, count what was applied, finalize what this completes."""
    on_time = await ctx.repo.barrier.admit(events)
    if on_time:
        changes = await ctx.repo.reprice(await write(on_time))
        counts: Counter[tuple[str, str, str]] = Counter(
            (e.data.campaign_id, e.data.phase_id, e.type) for e in on_time)
        _announce(ctx, changes, {e.id: e for e in on_time}, on_time[-1], counts)
        await ctx.repo.barrier.count(counts)
        log.info("scores_recorded", events=len(on_time), subjects_changed=len(changes))
    await _finalize(ctx)


def _announce(
    ctx: Context[ScoringRepository], changes: Sequence[SubjectChange],
    causes: dict[str, CloudEvent], fallback: CloudEvent,
    counts: Counter[tuple[str, str, str]],
) -> None:
    """One score.changed per subject whose total changed, caused by the event of its last
    ledger line (the batch's totals are already coalesced per subject)."""
    for c in changes:
        ctx.emit(
            ScoreChanged(
                unit_id=c.unit_id, campaign_id=c.campaign_id, phase_id=c.phase_id,
                subject_kind=c.subject_kind, subject_id=c.subject_id,
                points_delta=c.points_delta, total_points=c.total_points, reason=c.reason,
                source_event_id=c.source_event_id, subject_version=c.version,
            ),
            cause=causes.get(c.source_event_id, fallback), subject=c.subject_id,
        )
        counts[(c.campaign_id, c.phase_id, SCORE_CHANGES)] += 1
    SCORE_CHANGES_EMITTED.inc(len(changes))


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


__all__ = ["SCORED_TYPES", "PhaseKey", "handlers"]

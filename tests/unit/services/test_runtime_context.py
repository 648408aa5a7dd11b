"""A handler's context: emitted events derive their envelope from their cause; coalescing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts import CloudEvent, new_event
from contracts.events.scores import ScoreChanged
from services.runtime.context import Context, Emissions, Envelopes
from tests.support.events import initiative_submitted

NOW = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


def batch_context() -> tuple[Context, Emissions]:
    envelopes = Envelopes("scoring", fixed_clock)
    emissions = Emissions(envelopes)
    ctx = Context(conn=None, repo=None, envelopes=envelopes, emissions=emissions,
                  clock=fixed_clock)
    return ctx, emissions


def score(subject_id: str = "m-1", delta: str = "2", total: str = "2", source: str = "e-1"):
    return ScoreChanged(
        unit_id="u-1", campaign_id="cmp", phase_id="p1", subject_kind="member",
        subject_id=subject_id, points_delta=Decimal(delta), total_points=Decimal(total),
        reason="initiative_submitted", source_event_id=source,
    )


def caused_flow() -> CloudEvent:
    """An event in the middle of a flow: its correlation id is not its own id."""
    first = initiative_submitted()
    return new_event(first.data, source="/thidua/registration", district="d-hoankiem",
                     correlation_id="flow-42", causation_id=first.id)


def test_an_emitted_event_takes_source_district_correlation_and_causation_from_its_cause():
    ctx, emissions = batch_context()
    cause = caused_flow()
    emitted = ctx.for_event(cause).emit(score(), subject="m-1")
    assert (emitted.source, emitted.district, emitted.correlationid, emitted.causationid) == (
        "/thidua/scoring", "d-hoankiem", "flow-42", cause.id)
    assert (emitted.type, emitted.subject, emitted.time) == (
        "thidua.score.changed.v1", "m-1", NOW)
    assert emitted.id not in (cause.id, "flow-42")
    assert emissions.drain() == [emitted]


def test_an_emitted_event_may_leave_its_causes_district_for_a_city_wide_one():
    ctx, _ = batch_context()
    emitted = ctx.for_event(caused_flow()).emit(score(), district=None)
    assert emitted.district is None
    assert emitted.correlationid == "flow-42"


def test_a_batch_handler_names_the_cause_of_each_event_it_emits():
    ctx, emissions = batch_context()
    first, second = initiative_submitted(), caused_flow()
    emitted = [ctx.emit(score("m-1"), cause=first), ctx.emit(score("m-2"), cause=second)]
    assert [(e.causationid, e.correlationid) for e in emitted] == [
        (first.id, first.correlationid), (second.id, "flow-42")]
    assert emissions.drain() == emitted


def test_a_batch_handler_emitting_without_a_cause_gets_a_clear_error():
    ctx, emissions = batch_context()
    with pytest.raises(ValueError, match="a batch handler must name the cause"):
        ctx.emit(score())
    with pytest.raises(ValueError, match="a batch handler must name the cause"):
        ctx.emit_coalesced("m-1", score())
    assert emissions.drain() == []


def test_an_explicit_cause_overrides_the_event_being_handled():
    ctx, _ = batch_context()
    handled, other = initiative_submitted(), caused_flow()
    assert ctx.for_event(handled).emit(score(), cause=other).causationid == other.id


def test_coalesced_events_keep_one_slot_per_key_at_its_first_position():
    ctx, emissions = batch_context()
    cause, later_cause = initiative_submitted(), caused_flow()
    ctx.emit_coalesced("m-1", score("m-1", total="2"), cause=cause)
    plain = ctx.emit(score("m-9"), cause=cause)
    ctx.emit_coalesced("m-2", score("m-2", total="2"), cause=cause)
    ctx.emit_coalesced("m-1", score("m-1", total="4"), cause=later_cause)
    assert len(emissions) == 3
    drained = emissions.drain()
    assert [e.data.subject_id for e in drained] == ["m-1", "m-9", "m-2"]
    assert drained[1] is plain
    # Without merge, the later payload and cause replace the staged ones.
    assert drained[0].data.total_points == Decimal(4)
    assert (drained[0].causationid, drained[0].correlationid) == (later_cause.id, "flow-42")


def test_coalescing_applies_merge_to_the_staged_and_the_new_payload():
    ctx, emissions = batch_context()
    first, second = initiative_submitted(), caused_flow()
    calls = []

    def merge(staged: ScoreChanged, new: ScoreChanged) -> ScoreChanged:
        calls.append((staged.source_event_id, new.source_event_id))
        return new.model_copy(update={"points_delta": staged.points_delta + new.points_delta})

    ctx.emit_coalesced("m-1", score(delta="2", source="a"), cause=first, merge=merge)
    ctx.emit_coalesced("m-1", score(delta="3", source="b"), cause=second, merge=merge)
    [merged] = emissions.drain()
    assert calls == [("a", "b")]
    assert (merged.data.points_delta, merged.data.source_event_id) == (Decimal(5), "b")
    assert merged.causationid == second.id


def test_draining_empties_the_batch_and_forgets_its_keys():
    ctx, emissions = batch_context()
    cause = initiative_submitted()
    ctx.emit_coalesced("m-1", score(), cause=cause)
    assert len(emissions.drain()) == 1
    assert emissions.drain() == []
    ctx.emit_coalesced("m-1", score(), cause=cause, merge=lambda staged, new: 1 / 0)
    assert len(emissions.drain()) == 1  # a fresh slot: the old key is gone, merge not called


def test_now_reads_the_contexts_clock():
    ctx, _ = batch_context()
    assert ctx.now() == NOW
    assert ctx.for_event(initiative_submitted()).now() == NOW


async def test_work_left_for_the_batch_end_runs_once_per_key_after_every_run_and_may_emit():
    ctx, emissions = batch_context()
    cause = initiative_submitted()
    ran: list[str] = []

    async def settle() -> None:
        ran.append("settle")
        ctx.emit(score(), cause=cause)

        async def after() -> None:
            ran.append("after")
        ctx.at_batch_end("after", after)

    for _ in range(3):  # three runs of the batch leave the same work
        ctx.at_batch_end("settle", settle)
    assert ran == []
    await emissions.run_at_end()
    assert ran == ["settle", "after"]
    assert [e.data.subject_id for e in emissions.drain()] == ["m-1"]
    await emissions.run_at_end()  # nothing left: a batch's work does not leak into the next
    assert ran == ["settle", "after"]

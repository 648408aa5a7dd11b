"""The consumer applying mixed batches through the harness: partition order, rewinds, health."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts import CloudEvent, new_event
from contracts.events.initiatives import InitiativeReviewed, InitiativeSubmitted
from services.runtime.consumer_health import ConsumerHealth
from services.runtime.context import Context
from services.runtime.handlers import Handlers
from tests.support.events import initiative_submitted
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

calls: list[tuple[str, str]] = []  # (handler, initiative id), in the order handled
batches_seen: list[list[str]] = []
outage: list[Exception] = []  # an exception here is raised by the next submission handled

handlers = Handlers()


@handlers.on
async def on_submitted(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None:
    if outage:
        raise outage.pop()
    calls.append(("submitted", event.data.initiative_id))


@handlers.batch
async def on_reviewed(ctx: Context, events: list[CloudEvent[InitiativeReviewed]]) -> None:
    batches_seen.append([e.data.initiative_id for e in events])
    calls.extend(("reviewed", e.data.initiative_id) for e in events)


@pytest.fixture(scope="module")
async def consumer(database_url):
    async with open_harness(database_url, ServiceUnderTest("ordering", handlers)) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def fresh(consumer):
    await consumer.reset()
    calls.clear()
    batches_seen.clear()
    outage.clear()


def submitted(initiative_id: str, unit_id: str) -> CloudEvent:
    data = initiative_submitted(unit_id=unit_id).data.model_copy(
        update={"initiative_id": initiative_id})
    return new_event(data, source="/thidua/registration", district="d-dongda")


def reviewed(initiative_id: str, unit_id: str) -> CloudEvent:
    data = InitiativeReviewed(
        initiative_id=initiative_id, campaign_id="cmp-2025-hn", phase_id="cmp-2025-hn-p1",
        unit_id=unit_id, outcome="accepted", level="grassroots", grade="A",
        recognised_benefit_vnd=5_000_000, council_unit_id="u-council",
        reviewed_at=datetime(2025, 6, 3, tzinfo=UTC),
    )
    return new_event(data, source="/thidua/registration", district="d-dongda")


def handled_for(prefix: str) -> list[tuple[str, str]]:
    return [call for call in calls if call[1].startswith(prefix)]


async def test_two_types_interleaved_on_one_partition_are_handled_in_partition_order(consumer):
    unit = [submitted("a-1", "u-a"), reviewed("a-1", "u-a"), submitted("a-2", "u-a"),
            reviewed("a-2", "u-a"), reviewed("a-0", "u-a"), submitted("a-3", "u-a")]
    await consumer.apply(*unit)
    assert calls == [("submitted", "a-1"), ("reviewed", "a-1"), ("submitted", "a-2"),
                     ("reviewed", "a-2"), ("reviewed", "a-0"), ("submitted", "a-3")]
    assert batches_seen == [["a-1"], ["a-2", "a-0"]]  # a batch handler gets each run whole


async def test_other_partitions_keep_their_own_order_in_a_mixed_batch(consumer):
    a = [submitted("a-1", "u-a"), reviewed("a-1", "u-a"), submitted("a-2", "u-a")]
    b = [reviewed("b-0", "u-b"), submitted("b-1", "u-b"), reviewed("b-1", "u-b")]
    records = [consumer.record(a[0], partition=0), consumer.record(b[0], partition=1),
               consumer.record(a[1], partition=0), consumer.record(b[1], partition=1),
               consumer.record(a[2], partition=0), consumer.record(b[2], partition=1)]
    await consumer.apply(*records)
    assert handled_for("a-") == [("submitted", "a-1"), ("reviewed", "a-1"), ("submitted", "a-2")]
    assert handled_for("b-") == [("reviewed", "b-0"), ("submitted", "b-1"), ("reviewed", "b-1")]


async def test_an_infrastructure_failure_rewinds_the_batch_and_marks_its_partition_failing(
    consumer,
):
    clock = [0.0]
    consumer.consumer.health = ConsumerHealth(stall_after_s=60, clock=lambda: clock[0])
    batch = [consumer.record(submitted("a-1", "u-a"), partition=4)]
    outage.append(ConnectionResetError("database went away"))
    with pytest.raises(ConnectionResetError):
        await consumer.apply(*batch)
    assert await consumer.pool.fetchval("SELECT count(*) FROM inbox") == 0  # rolled back
    clock[0] = 61.0
    assert consumer.consumer.health.check() == (
        "failing: partition not advancing: thidua.initiatives.v1[4] for 61 s")
    await consumer.apply(*batch)  # redelivered
    assert calls == [("submitted", "a-1")]
    assert consumer.consumer.health.check() == "ok"


async def test_a_handler_failure_fails_the_test_even_when_the_consumer_recovers_from_it(
    consumer,
):
    outage.append(ValueError("a bug in the handler"))  # fails once: the batch, not the retries
    with pytest.raises(ValueError, match="a bug in the handler"):
        await consumer.apply(submitted("a-1", "u-a"), submitted("a-2", "u-a"))
    assert calls == [("submitted", "a-1"), ("submitted", "a-2")]  # each applied in isolation
    assert consumer.dead_letters.sent == []

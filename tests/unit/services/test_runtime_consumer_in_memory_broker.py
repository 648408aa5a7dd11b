"""The runtime's batch subscriber and consumer on FastStream's in-memory broker.

No broker and no database: `TestKafkaBroker` delivers real `ConsumerRecord`s to the subscriber
the runtime binds, and a small in-memory stand-in for the pool keeps the inbox, so the flow
decode → dead-letter → inbox claim → handler → retry → isolate is exercised end to end.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, encode_event, new_event
from contracts.events.initiatives import InitiativeAuthor, InitiativeSubmitted, WorkRegistered
from contracts.topics import INITIATIVES
from services.runtime.consumer import EventConsumer, RetryPolicy
from services.runtime.context import Context, Envelopes
from services.runtime.dead_letters import DeadLetterPublisher
from services.runtime.handlers import Handlers
from services.runtime.subscription import subscribe
from services.scoring.settings import ScoringSettings


class InMemoryInbox:
    """Enough of an asyncpg pool for the consumer: transactions and the inbox claim."""

    def __init__(self) -> None:
        self.applied: set[str] = set()

    @asynccontextmanager
    async def acquire(self):
        yield _Connection(self)


class _Connection:
    def __init__(self, inbox: InMemoryInbox) -> None:
        self._inbox = inbox
        self._claimed: set[str] = set()

    @asynccontextmanager
    async def transaction(self):
        self._claimed = set()
        yield  # an exception rolls the claims back: they are never merged
        self._inbox.applied |= self._claimed

    async def fetch(self, sql: str, event_ids: list[str], *columns: list) -> list[dict]:
        assert "INSERT INTO inbox" in sql
        fresh = [i for i in dict.fromkeys(event_ids) if i not in self._inbox.applied]
        self._claimed |= set(fresh)
        return [{"event_id": i} for i in fresh]


class RecordingProducer:
    """Collects dead letters as aiokafka's producer would send them."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send(self, topic, value, *, key, headers):
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": dict(headers)})
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def submitted(unit_id: str = "u-det-8-3"):
    return new_event(
        InitiativeSubmitted(
            initiative_id="ini-1", campaign_id="cmp", phase_id="p1", unit_id=unit_id,
            title="Cải tiến khung dệt", field="kỹ thuật", claimed_benefit_vnd=1,
            authors=[InitiativeAuthor(member_id="m-1", full_name="Lan", direct_worker=True)],
            submitted_at=datetime(2025, 6, 1, tzinfo=UTC),
        ),
        source="/thidua/registration", district="d-dongda",
    )


class Harness:
    def __init__(self, handler) -> None:
        self.inbox = InMemoryInbox()
        self.producer = RecordingProducer()
        handlers = Handlers()
        handlers.on(handler)
        self.consumer = EventConsumer(
            self.inbox,
            handlers,
            DeadLetterPublisher(self.producer, "thidua-scoring", "scoring"),
            RetryPolicy(max_attempts=3, backoff=0.001, backoff_max=0.002),
            envelopes=Envelopes("scoring"),
        )
        self.broker = KafkaBroker("in-memory:9092")
        subscribe(self.broker, self.consumer, [INITIATIVES.name], ScoringSettings())

    async def publish(self, broker, value: bytes, key: bytes = b"u-det-8-3") -> None:
        await broker.publish(value, INITIATIVES.name, key=key,
                             headers={"content-type": CLOUDEVENTS_CONTENT_TYPE})


@pytest.fixture
def applied_events():
    return []


@pytest.fixture
def harness(applied_events):
    async def record(ctx: Context, event: CloudEvent[InitiativeSubmitted]):
        applied_events.append(event)

    return Harness(record)


async def test_a_published_event_reaches_its_handler_decoded(harness, applied_events):
    event = submitted()
    async with TestKafkaBroker(harness.broker) as broker:
        await harness.publish(broker, encode_event(event))
    assert [(e.id, e.data.unit_id) for e in applied_events] == [(event.id, "u-det-8-3")]
    assert harness.inbox.applied == {event.id}
    assert harness.producer.sent == []


async def test_a_redelivered_event_is_applied_once(harness, applied_events):
    value = encode_event(submitted())
    async with TestKafkaBroker(harness.broker) as broker:
        await harness.publish(broker, value)
        await harness.publish(broker, value)
    assert len(applied_events) == 1
    assert (harness.consumer.stats.applied, harness.consumer.stats.duplicates) == (1, 1)


async def test_an_event_type_without_a_handler_is_ignored_not_dead_lettered(
    harness, applied_events
):
    work = new_event(
        WorkRegistered(work_id="w-1", campaign_id="cmp", phase_id="p1", unit_id="u-1",
                       name="Nhà văn hoá", value_vnd=1, occasion="28/7", plaque_level="district",
                       registered_at=datetime(2025, 6, 1, tzinfo=UTC)),
        source="/thidua/registration", district="d-dongda",
    )
    async with TestKafkaBroker(harness.broker) as broker:
        await harness.publish(broker, encode_event(work))
    assert applied_events == [] and harness.producer.sent == []
    assert harness.consumer.stats.ignored == 1


async def test_a_malformed_record_goes_to_the_dead_letter_topic_with_its_reason(
    harness, applied_events
):
    async with TestKafkaBroker(harness.broker) as broker:
        await harness.publish(broker, b"{not json", key=b"u-9")
    [letter] = harness.producer.sent
    assert (letter["topic"], letter["value"], letter["key"]) == (
        "thidua.initiatives.v1.dlq", b"{not json", b"u-9")
    assert letter["headers"]["content-type"] == CLOUDEVENTS_CONTENT_TYPE.encode()
    assert letter["headers"]["thidua-dlq-reason-code"] == b"not_json"
    assert letter["headers"]["thidua-dlq-consumer-group"] == b"thidua-scoring"
    assert applied_events == []


async def test_a_record_its_handler_keeps_rejecting_is_dead_lettered_after_its_attempts():
    attempts = []

    async def always_fails(ctx: Context, event: CloudEvent[InitiativeSubmitted]):
        attempts.append(event.id)
        raise ValueError("unit u-det-8-3 is unknown")

    harness = Harness(always_fails)
    async with TestKafkaBroker(harness.broker) as broker:
        await harness.publish(broker, encode_event(submitted()))
    [letter] = harness.producer.sent
    assert letter["headers"]["thidua-dlq-reason-code"] == b"handler_failed"
    assert letter["headers"]["thidua-dlq-reason"] == (
        b"ValueError: unit u-det-8-3 is unknown (after 3 attempts)")
    assert len(attempts) == 6  # three for the batch, three for the isolated record
    assert harness.inbox.applied == set()


async def test_an_infrastructure_failure_fails_the_batch_instead_of_dead_lettering_it():
    async def database_gone(ctx: Context, event: CloudEvent[InitiativeSubmitted]):
        raise asyncpg.PostgresConnectionError("connection was closed")

    harness = Harness(database_gone)
    async with TestKafkaBroker(harness.broker) as broker:
        with pytest.raises(asyncpg.PostgresConnectionError):
            await harness.publish(broker, encode_event(submitted()))
    assert harness.producer.sent == []
    assert harness.inbox.applied == set()


async def test_one_poison_record_in_a_batch_does_not_hold_back_the_others():
    good, poison = submitted("u-good"), submitted("u-poison")

    async def rejects_one_unit(ctx: Context, event: CloudEvent[InitiativeSubmitted]):
        if event.data.unit_id == "u-poison":
            raise ValueError("poison")

    harness = Harness(rejects_one_unit)
    async with TestKafkaBroker(harness.broker) as broker:
        await broker.publish_batch(encode_event(good), encode_event(poison), b"[]",
                                   topic=INITIATIVES.name)
    # Only what committed counts: the good record's effect in the failed batch attempts rolled back.
    assert harness.inbox.applied == {good.id}
    assert harness.consumer.stats.applied == 1
    codes = sorted(letter["headers"]["thidua-dlq-reason-code"] for letter in harness.producer.sent)
    assert codes == [b"handler_failed", b"not_cloudevent"]

"""Faults found by injection: a record too large for the DLQ, a redelivered batch, a stuck partition.

Each test has its own one-partition topic, so a partition it blocks on purpose blocks no other test.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from contracts import CloudEvent, encode_event
from contracts.events.initiatives import InitiativeSubmitted
from services.devstack.topics import ensure_topics
from services.runtime.context import Context
from services.runtime.db import open_schema
from services.runtime.dead_letters import DeadLetterPublisher, Rejection
from services.runtime.handlers import Handlers
from services.runtime.settings import ServiceSettings
from services.runtime.subscription import build_consumer, start_consumer
from tests.support.events import initiative_submitted
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration


class Outage:
    """A database the handler cannot reach, for as long as `on` is set."""

    on = False


handlers = Handlers()
HANDLED: Counter[str] = Counter()


@handlers.on
async def record_effect(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None:
    HANDLED[event.data.title] += 1
    if event.data.title.startswith("poison"):
        raise ValueError("this initiative always fails")
    if Outage.on and event.data.title.startswith("outage"):
        raise OSError("connection refused")  # an infrastructure failure: rewind, not dead-letter
    await ctx.conn.execute("INSERT INTO effects (event_id, title) VALUES ($1, $2)", event.id,
                           event.data.title)


@asynccontextmanager
async def consumer_on_own_topic(bootstrap: str, database_url: str, **overrides):
    run = uuid.uuid4().hex[:8]
    topic = f"thidua.faulttest-{run}.v1"
    await ensure_topics(bootstrap, [(topic, 1), (f"{topic}.dlq", 1)])
    pool = await open_schema(database_url, f"faults_{run}")
    await pool.execute("CREATE TABLE effects (event_id text, title text)")
    settings = ServiceSettings(
        kafka_bootstrap_servers=bootstrap, service_name="fault-test",
        consumer_group=f"fault-test-{run}", consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=500, consumer_max_attempts=2,
        consumer_retry_backoff_ms=10, consumer_retry_backoff_max_ms=20, **overrides,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    dlq_producer = AIOKafkaProducer(bootstrap_servers=bootstrap,
                                    max_request_size=settings.producer_max_request_bytes)
    await dlq_producer.start()
    broker, consumer = await start_consumer(settings, pool, dlq_producer, handlers,
                                            topics=[topic])
    try:
        yield topic, consumer, pool, producer
    finally:
        await broker.stop()
        await producer.stop()
        await dlq_producer.stop()
        await pool.close()


async def titles_applied(pool, *titles: str) -> list[str]:
    rows = await pool.fetch("SELECT title FROM effects WHERE title = ANY($1::text[])", list(titles))
    return [r["title"] for r in rows]


async def test_a_record_too_large_for_the_dead_letter_topic_is_dead_lettered_by_digest(
    kafka_bootstrap_servers, database_url
):
    async with consumer_on_own_topic(kafka_bootstrap_servers, database_url) as (
        topic, consumer, pool, producer
    ):
        huge = initiative_submitted(title="x" * 400)
        value = (encode_event(huge)
                 .replace(b'"title":"' + b"x" * 400, b'"title":"' + b"y" * 1_500_000)
                 .replace(b'"claimed_benefit_vnd":35000000', b'"claimed_benefit_vnd":-1'))
        await producer.send_and_wait(topic, value, key=b"u-huge")
        after = initiative_submitted(title=f"after-huge-{uuid.uuid4().hex[:6]}")
        await producer.send_and_wait(topic, encode_event(after), key=b"u-huge")

        await wait_for(lambda: titles_applied(pool, after.data.title))
        [letter] = await wait_for(lambda: read_topic(kafka_bootstrap_servers, f"{topic}.dlq"))
        headers = dict(letter.headers)
        assert headers["thidua-dlq-reason-code"] == b"invalid_data"
        assert b"claimed_benefit_vnd" in headers["thidua-dlq-reason"]
        stand_in = json.loads(letter.value)
        assert stand_in["thidua_dead_letter"] == "value_too_large"
        assert stand_in["original_size"] == len(value)
        assert len(stand_in["sha256"]) == 64 and stand_in["head"].startswith('{"specversion"')
        assert headers["thidua-dlq-original-offset"] == b"0"
        # Sent once: the batch was not redelivered in a loop.
        await asyncio.sleep(0.5)
        assert len(await read_topic(kafka_bootstrap_servers, f"{topic}.dlq")) == 1
        assert consumer.health.check() == "ok"


async def test_a_redelivered_batch_does_not_send_its_dead_letters_again(
    kafka_bootstrap_servers, database_url
):
    run = uuid.uuid4().hex[:8]
    topic = f"thidua.dlqonce-{run}.v1"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 1), (f"{topic}.dlq", 1)])
    pool = await open_schema(database_url, f"dlqonce_{run}")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    try:
        publisher = DeadLetterPublisher(producer, "group", "service", pool)
        records = [ConsumerRecord(topic, 0, offset, 0, 0, b"k", f"bad {offset}".encode(), None,
                                  0, 0, []) for offset in (7, 8)]
        rejections = [Rejection(r, "not_json", "value is not JSON") for r in records]
        await publisher.send_all(rejections[:1])
        # The batch fails after its first dead letter; it comes back with both records.
        assert await publisher.already_sent(records) == {(topic, 0, 7)}
        await publisher.send_all([r for r in rejections
                                  if (topic, 0, r.record.offset)
                                  not in await publisher.already_sent(records)])
        letters = await wait_for(lambda: _two(read_topic(kafka_bootstrap_servers, f"{topic}.dlq")))
        assert sorted(letter.value for letter in letters) == [b"bad 7", b"bad 8"]
    finally:
        await producer.stop()
        await pool.close()


async def test_a_redelivered_batch_neither_applies_nor_sends_again_what_it_dead_lettered(
    kafka_bootstrap_servers, database_url
):
    run = uuid.uuid4().hex[:8]
    topic = f"thidua.dlqfold-{run}.v1"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 1), (f"{topic}.dlq", 1)])
    pool = await open_schema(database_url, f"dlqfold_{run}")
    await pool.execute("CREATE TABLE effects (event_id text, title text)")
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers,
                               service_name="fault-test", consumer_group=f"dlqfold-{run}",
                               consumer_max_attempts=2, consumer_retry_backoff_ms=10,
                               consumer_retry_backoff_max_ms=20)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    try:
        consumer = build_consumer(settings, pool, producer, handlers)
        poison = initiative_submitted(title=f"poison-{run}")
        good = initiative_submitted(title=f"good-{run}")
        values = [b"not json", encode_event(poison), encode_event(good)]
        records = [ConsumerRecord(topic, 0, 40 + n, 0, 0, b"k", value, None, 0, 0, [])
                   for n, value in enumerate(values)]
        await consumer.handle_batch(records)
        handled = HANDLED[poison.data.title]
        assert handled >= 2 and HANDLED[good.data.title] >= 1  # retried, then isolated
        # Its offsets were not committed: the same records come again, with one more.
        later = initiative_submitted(title=f"later-{run}")
        again = [*records, ConsumerRecord(topic, 0, 43, 0, 0, b"k", encode_event(later), None,
                                          0, 0, [])]
        await consumer.handle_batch(again)
        assert HANDLED[poison.data.title] == handled
        assert consumer.stats.dead_lettered == 2
        assert sorted(await titles_applied(pool, good.data.title, later.data.title,
                                           poison.data.title)) == [good.data.title,
                                                                   later.data.title]
        # The dead-lettered event is not marked applied: put back on its topic, it is applied.
        assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1",
                                   poison.id) == 0
        letters = await wait_for(lambda: _two(read_topic(kafka_bootstrap_servers,
                                                         f"{topic}.dlq")))
        await asyncio.sleep(0.5)  # nothing more arrives
        assert len(await read_topic(kafka_bootstrap_servers, f"{topic}.dlq")) == len(letters) == 2
    finally:
        await producer.stop()
        await pool.close()


async def _two(pending):
    letters = await pending
    return letters if len(letters) >= 2 else None


async def test_a_partition_that_does_not_advance_fails_readiness_until_it_moves_again(
    kafka_bootstrap_servers, database_url
):
    async with consumer_on_own_topic(kafka_bootstrap_servers, database_url,
                                     consumer_stall_after_ms=300) as (
        topic, consumer, pool, producer
    ):
        Outage.on = True
        try:
            stuck = initiative_submitted(title=f"outage-{uuid.uuid4().hex[:6]}")
            await producer.send_and_wait(topic, encode_event(stuck), key=b"u-stuck")
            status = await wait_for(lambda: _failing(consumer))
            assert f"{topic}[0]" in status and "not advancing" in status
        finally:
            Outage.on = False
        await wait_for(lambda: titles_applied(pool, stuck.data.title))
        # The batch's row is visible at its commit, a moment before the consumer notes the
        # success: readiness is waited for, as a probe would poll it.
        await wait_for(lambda: _ok(consumer))
        assert await read_topic(kafka_bootstrap_servers, f"{topic}.dlq") == []


async def _ok(consumer) -> bool:
    return consumer.health.check() == "ok"


async def _failing(consumer) -> str | None:
    status = consumer.health.check()
    return status if status != "ok" else None

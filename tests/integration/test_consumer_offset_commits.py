"""Offsets committed in the background, on the real broker: they follow the applied batches
while the consumer runs, and a graceful stop commits the last batch's before leaving."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from contracts import CloudEvent, encode_event
from contracts.events.initiatives import InitiativeSubmitted
from services.devstack.topics import ensure_topics
from services.runtime.context import Context
from services.runtime.db import open_schema
from services.runtime.handlers import Handlers
from services.runtime.settings import ServiceSettings
from services.runtime.subscription import start_consumer
from tests.support.events import initiative_submitted
from tests.support.kafka_log import wait_for

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:8]
TOPIC = f"thidua.offsetcommits-{RUN}.v1"
PARTITIONS = 3

handlers = Handlers()


@handlers.on
async def record_effect(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None:
    await ctx.conn.execute("INSERT INTO effects (event_id) VALUES ($1)", event.id)


async def committed(bootstrap: str, group: str) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return {n: await consumer.committed(TopicPartition(TOPIC, n)) for n in range(PARTITIONS)}
    finally:
        await consumer.stop()


async def publish(producer: AIOKafkaProducer, count: int) -> dict[int, int]:
    """Publish `count` events over the partitions; each partition's end offset after them."""
    ends: dict[int, int] = {}
    for n in range(count):
        event = initiative_submitted(title=f"offsets-{n}")
        meta = await producer.send_and_wait(TOPIC, encode_event(event),
                                            partition=n % PARTITIONS)
        ends[meta.partition] = meta.offset + 1
    return ends


async def test_offsets_follow_the_applied_batches_and_a_graceful_stop_commits_the_last(
    kafka_bootstrap_servers, database_url
):
    await ensure_topics(kafka_bootstrap_servers, [(TOPIC, PARTITIONS), (f"{TOPIC}.dlq", 1)])
    pool = await open_schema(database_url, f"offsets_{RUN}")
    await pool.execute("CREATE TABLE effects (event_id text)")
    group = f"offset-commits-{RUN}"
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap_servers, service_name="offset-commits-test",
        consumer_group=group, consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=500,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    broker = None
    try:
        broker, _consumer = await start_consumer(settings, pool, producer, handlers,
                                                 topics=[TOPIC])
        ends = await publish(producer, 12)

        async def caught_up() -> bool:
            return await committed(kafka_bootstrap_servers, group) == ends

        # While it runs: the commits follow the batches without being waited for.
        await wait_for(caught_up)
        assert await pool.fetchval("SELECT count(*) FROM effects") == 12

        ends = await publish(producer, 6)
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 18 FROM effects"))
        await broker.stop()  # right after the last batch's transaction: its commit goes first
        broker = None
        assert await committed(kafka_bootstrap_servers, group) == ends
    finally:
        if broker is not None:
            await broker.stop()
        await producer.stop()
        await pool.close()

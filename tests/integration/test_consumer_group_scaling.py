"""Replicas of one consumer share a topic's partitions and, across rebalances, apply each event once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

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
EVENTS = 3_000


handlers = Handlers()


@handlers.batch
async def count_effects(ctx: Context, events: list[CloudEvent[InitiativeSubmitted]]) -> None:
    await ctx.conn.execute("INSERT INTO effects (event_id) SELECT * FROM unnest($1::text[])",
                           [e.id for e in events])


async def start_replica(bootstrap: str, topic: str, group: str, pool, producer) -> KafkaBroker:
    settings = ServiceSettings(
        kafka_bootstrap_servers=bootstrap, service_name="scaling-test", consumer_group=group,
        consumer_max_records=100, consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=500,
    )
    broker, _ = await start_consumer(settings, pool, producer, handlers, topics=[topic])
    return broker


async def test_replicas_joining_and_leaving_mid_stream_apply_every_event_exactly_once(
    kafka_bootstrap_servers, database_url
):
    run = uuid.uuid4().hex[:8]
    topic, group, schema = f"thidua.scalingtest-{run}.v1", f"scaling-{run}", f"scaling_{run}"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 6), (f"{topic}.dlq", 6)])
    pool = await open_schema(database_url, schema)
    await pool.execute("CREATE TABLE effects (event_id text NOT NULL)")  # no unique: count repeats
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, linger_ms=5)
    await producer.start()

    async def publish(first: int, last: int) -> None:
        for i in range(first, last):
            event = initiative_submitted(unit_id=f"u-{i % 50:03d}")
            await producer.send(topic, encode_event(event), key=event.partition_key().encode())
            if i % 100 == 0:
                await asyncio.sleep(0.05)  # a steady stream, so rebalances land mid-flow
        await producer.flush()

    first = await start_replica(kafka_bootstrap_servers, topic, group, pool, producer)
    await publish(0, EVENTS // 3)
    second_joining = asyncio.create_task(
        start_replica(kafka_bootstrap_servers, topic, group, pool, producer))
    await publish(EVENTS // 3, 2 * EVENTS // 3)
    second = await second_joining
    await first.stop()  # the first replica leaves; its partitions move to the second
    await publish(2 * EVENTS // 3, EVENTS)

    await wait_for(lambda: pool.fetchval("SELECT count(DISTINCT event_id) = $1 FROM effects",
                                         EVENTS), timeout=60)
    assert await pool.fetchval("SELECT count(*) FROM effects") == EVENTS  # none applied twice
    assert await pool.fetchval("SELECT count(*) FROM inbox") == EVENTS
    await second.stop()
    await producer.stop()
    await pool.close()

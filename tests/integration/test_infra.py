"""The session's broker and database work as the services will use them."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.runtime.infra import ensure_topics

pytestmark = pytest.mark.integration


async def describe(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
    finally:
        await admin.close()


async def test_every_topic_exists_with_its_partition_count(kafka_bootstrap_servers, topic_specs):
    described = await describe(kafka_bootstrap_servers, [name for name, _ in topic_specs])
    assert described == dict(topic_specs)


async def test_ensure_topics_is_idempotent_and_creates_only_what_is_missing(
    kafka_bootstrap_servers, topic_specs
):
    extra = f"test.infra.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [*topic_specs, (extra, 2)])
    await ensure_topics(kafka_bootstrap_servers, [*topic_specs, (extra, 2)])
    described = await describe(kafka_bootstrap_servers, [extra, topic_specs[0][0]])
    assert described == {extra: 2, topic_specs[0][0]: topic_specs[0][1]}


async def test_a_produced_record_is_consumed(kafka_bootstrap_servers):
    topic = f"test.infra.roundtrip.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"hello": "thidua"}', key=b"u-1",
                                     headers=[("content-type", b"application/cloudevents+json")])
    finally:
        await producer.stop()
    # Assigned, not subscribed: a new consumer group costs ~5 s to join on tansu.
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"u-1", b'{"hello": "thidua"}')
    assert dict(record.headers)["content-type"] == b"application/cloudevents+json"


async def test_postgres_answers(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        assert (await conn.fetchval("select version()")).startswith("PostgreSQL")
    finally:
        await conn.close()

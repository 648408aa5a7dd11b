"""Runbook commands against the real broker and database: dead letters sent back to their
topic (dry run, filters, what cannot go back), and a service's schema migrated by a command."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts import CLOUDEVENTS_CONTENT_TYPE, encode_event
from contracts.topics import ALL_TOPICS
from services.devstack.topics import ensure_topics, partition_drift
from services.ops.dead_letters_replay import REPLAYED_FROM, ReplayFilter, replay
from services.runtime.dead_letters import truncated_value
from tests.support.events import initiative_submitted
from tests.support.kafka_log import read_topic

pytestmark = pytest.mark.integration


def dlq_headers(reason_code: str, topic: str, offset: int) -> list[tuple[str, bytes]]:
    return [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode()),
            ("thidua-dlq-reason-code", reason_code.encode()),
            ("thidua-dlq-reason", b"rule set unknown"),
            ("thidua-dlq-service", b"scoring"),
            ("thidua-dlq-original-topic", topic.encode()),
            ("thidua-dlq-original-offset", str(offset).encode())]


@pytest.fixture
async def parked(kafka_bootstrap_servers):
    """A topic and its dead-letter topic holding two handler failures, one undecodable record
    and one stand-in for a value too large to park."""
    topic = f"thidua.replaytest.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 2), (f"{topic}.dlq", 2)])
    failed = [initiative_submitted() for _ in range(2)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for n, event in enumerate(failed):
            await producer.send_and_wait(f"{topic}.dlq", encode_event(event),
                                         key=event.partition_key().encode(),
                                         headers=dlq_headers("handler_failed", topic, n))
        await producer.send_and_wait(f"{topic}.dlq", b"{not json", key=b"u-x",
                                     headers=dlq_headers("undecodable", topic, 7))
        await producer.send_and_wait(f"{topic}.dlq", truncated_value(b"x" * 5000), key=b"u-y",
                                     headers=dlq_headers("handler_failed", topic, 9))
    finally:
        await producer.stop()
    return topic, failed


async def test_a_dry_run_lists_what_would_go_back_and_sends_nothing(parked,
                                                                   kafka_bootstrap_servers):
    topic, _ = parked
    out = io.StringIO()
    summary = await replay(kafka_bootstrap_servers, topic, ReplayFilter(), dry_run=True, out=out)
    assert (summary.replayed, summary.not_replayable) == (3, 1)
    assert "value too large to park" in out.getvalue()
    assert await read_topic(kafka_bootstrap_servers, topic) == []


async def test_replay_sends_the_originals_back_byte_for_byte_without_dlq_headers(
        parked, kafka_bootstrap_servers):
    topic, failed = parked
    summary = await replay(kafka_bootstrap_servers, topic,
                           ReplayFilter(reason_codes=frozenset({"handler_failed"})),
                           dry_run=False, out=io.StringIO())
    assert (summary.replayed, summary.skipped_by_filter, summary.not_replayable) == (2, 1, 1)
    back = await read_topic(kafka_bootstrap_servers, topic)
    assert sorted(r.value for r in back) == sorted(encode_event(e) for e in failed)
    for record in back:
        headers = dict(record.headers)
        assert headers["content-type"] == CLOUDEVENTS_CONTENT_TYPE.encode()
        assert not [k for k in headers if k.startswith("thidua-dlq-")]
        assert headers[REPLAYED_FROM].startswith(f"{topic}.dlq[".encode())
        assert record.key == json.loads(record.value)["data"]["unit_id"].encode()


async def test_filters_by_type_and_service(parked, kafka_bootstrap_servers):
    topic, _ = parked
    none = await replay(kafka_bootstrap_servers, topic,
                        ReplayFilter(services=frozenset({"awards"})), dry_run=True,
                        out=io.StringIO())
    typed = await replay(kafka_bootstrap_servers, topic,
                         ReplayFilter(types=frozenset({"thidua.initiative.submitted.v1"})),
                         dry_run=True, out=io.StringIO())
    assert (none.replayed, typed.replayed) == (0, 2)


def test_thidua_migrate_brings_a_schema_up_to_date_and_says_so(infrastructure):
    schema = f"migrate_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")} | {
        "DATABASE_URL": infrastructure.database_url, "SCORING_DB_SCHEMA": schema,
        "LOG_FORMAT": "console"}
    done = subprocess.run([sys.executable, "-m", "services.devstack.cli", "migrate", "scoring"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("scoring: ") and "migrations applied, the last scoring/" in last


async def test_the_migrated_schema_has_the_runtime_and_service_tables(infrastructure):
    schema = f"migrate_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")} | {
        "DATABASE_URL": infrastructure.database_url, "NOTIFY_DB_SCHEMA": schema}
    subprocess.run([sys.executable, "-m", "services.devstack.cli", "migrate", "notify"],
                   env=env, capture_output=True, timeout=300, check=True)
    conn = await asyncpg.connect(infrastructure.database_url)
    try:
        versions = {r["version"] for r in await conn.fetch(
            f"SELECT version FROM {schema}.schema_migrations")}
    finally:
        await conn.close()
    assert {"runtime/0001", "runtime/0003"} <= versions
    assert any(v.startswith("notify/") for v in versions)


async def test_the_topics_job_reports_partition_drift(kafka_bootstrap_servers):
    topic = f"thidua.drifttest.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 2)])
    assert await partition_drift(kafka_bootstrap_servers, [(topic, 2)]) == []
    assert await partition_drift(kafka_bootstrap_servers, [(topic, 3), ("thidua.absent.v9", 1)]) \
        == [f"{topic} has 2 partitions, the registry says 3"]


async def test_lag_counts_what_a_group_has_not_read(kafka_bootstrap_servers):
    from services.ops.status import group_lag

    topic = f"thidua.lagtest.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 2)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all",
                                linger_ms=20)
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(topic, b"{}", key=f"u-{n}".encode(), partition=0)
        # One batch of twenty, as a relay sends: the embedded broker reports its end wrongly.
        await asyncio.gather(*[await producer.send(topic, b"{}", partition=1)
                               for _ in range(20)])
    finally:
        await producer.stop()
    [lag] = await group_lag(kafka_bootstrap_servers, "scoring", f"nobody-{uuid.uuid4().hex}",
                            [topic])
    assert (lag.topic, lag.partitions, lag.behind, lag.lag) == (topic, 2, 2, 23)

    group = f"reader-{uuid.uuid4().hex[:8]}"
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap_servers, group_id=group,
                              enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        await reader.commit({TopicPartition(topic, 0): 2,    # two of the three read
                             TopicPartition(topic, 1): 20})  # all twenty
    finally:
        await reader.stop()
    [lag] = await group_lag(kafka_bootstrap_servers, "scoring", group, [topic])
    assert (lag.behind, lag.lag) == (1, 1)


async def test_the_outbox_backlog_of_a_schema(infrastructure):
    from services.ops.status import outbox_backlog

    schema = f"status_{uuid.uuid4().hex[:8]}"
    assert await outbox_backlog(infrastructure.database_url, schema) is None
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWARDS_")} | {
        "DATABASE_URL": infrastructure.database_url, "AWARDS_DB_SCHEMA": schema}
    subprocess.run([sys.executable, "-m", "services.devstack.cli", "migrate", "awards"],
                   env=env, capture_output=True, timeout=300, check=True)
    conn = await asyncpg.connect(infrastructure.database_url)
    try:
        await conn.execute(
            f"""INSERT INTO {schema}.outbox (event_id, event_type, topic, partition_key, value,
                                              correlation_id)
                SELECT 'e-' || n, 't', 'thidua.awards.v1', 'k', '{{}}', 'c'
                FROM generate_series(1, 5) AS n""")
    finally:
        await conn.close()
    backlog = await outbox_backlog(infrastructure.database_url, schema)
    assert backlog.rows == 5 and backlog.oldest_age_s >= 0


def test_thidua_status_prints_every_service(infrastructure):
    env = os.environ | {"KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
                        "DATABASE_URL": infrastructure.database_url}
    done = subprocess.run([sys.executable, "-m", "services.devstack.cli", "status"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["service", "group", "topic", "lag", "partitions", "behind"]
    assert {line.split()[0] for line in lines[1:] if not line.startswith("outbox")} == {
        "registration", "scoring", "awards", "notify"}
    assert sum(line.startswith("outbox ") for line in lines) == 4


def test_thidua_dlq_replay_all_drains_every_dead_letter_topic_in_a_dry_run(infrastructure):
    env = os.environ | {"KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers}
    done = subprocess.run([sys.executable, "-m", "services.devstack.cli", "dlq", "replay", "all",
                           "--dry-run", "--reason-code", "handler_failed"], env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.endswith(".dlq:")] == sorted(
        f"{t.name}.dlq:" for t in ALL_TOPICS)
    assert sum("would be replayed" in line for line in lines) == len(ALL_TOPICS)

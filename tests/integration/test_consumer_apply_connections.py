"""A batch applied on two connections and topped up with what the next fetch brings, against
the real broker and database: its partitions split between two transactions side by side,
every event applied once and in order per partition, a poison event dead-lettered without
holding back the other transaction's partitions (the rewind covers the topped-up records)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer

from contracts import CloudEvent, encode_event
from contracts.events.initiatives import InitiativeSubmitted
from services.devstack.topics import ensure_topics
from services.runtime.context import Context
from services.runtime.db import open_schema
from services.runtime.handlers import Handlers
from services.runtime.settings import ServiceSettings
from services.runtime.subscription import start_consumer
from tests.support.events import initiative_submitted
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:8]
TOPIC = f"thidua.applyconnections-{RUN}.v1"
PARTITIONS = 4
PER_PARTITION = 150

handlers = Handlers()


@handlers.batch
async def record_effects(ctx: Context, events: list[CloudEvent[InitiativeSubmitted]]) -> None:
    if any(e.data.title == "poison" for e in events):
        raise ValueError("this initiative always fails")
    await ctx.conn.execute(
        """INSERT INTO effects (event_id, unit_id, title, txid)
           SELECT e, u, t, pg_current_xact_id()::text
           FROM unnest($1::text[], $2::text[], $3::text[]) AS x(e, u, t)""",
        [e.id for e in events], [e.data.unit_id for e in events], [e.data.title for e in events])


async def test_a_batch_of_several_partitions_is_applied_by_two_transactions_once_each(
        kafka_bootstrap_servers, database_url):
    await ensure_topics(kafka_bootstrap_servers, [(TOPIC, PARTITIONS), (f"{TOPIC}.dlq", PARTITIONS)])
    pool = await open_schema(database_url, f"apply_connections_{RUN}", max_size=4)
    await pool.execute(
        "CREATE TABLE effects (seq bigserial, event_id text, unit_id text, title text, txid text)")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    # Everything is on the topic before the consumer starts, so its first batches are large.
    units = [f"u-apply-{RUN}-{n}" for n in range(PARTITIONS * 3)]
    events = [initiative_submitted(unit_id=units[i % len(units)], title=f"t-{i}")
              for i in range(PARTITIONS * PER_PARTITION)]
    await _publish(producer, events)
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap_servers, service_name="apply-connections-test",
        consumer_group=f"apply-connections-{RUN}", consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=500, consumer_max_attempts=2,
        consumer_retry_backoff_ms=20, consumer_retry_backoff_max_ms=50,
        consumer_apply_connections=2, consumer_top_up_ms=20,
    )
    broker, consumer = await start_consumer(settings, pool, producer, handlers, topics=[TOPIC])
    try:
        await wait_for(lambda: _applied(pool, len(events)), timeout=60)
        rows = await pool.fetch("SELECT event_id, unit_id, title, txid FROM effects ORDER BY seq")
        assert sorted(r["event_id"] for r in rows) == sorted(e.id for e in events)
        # Nothing failed, so each transaction is one batch's group: more transactions than
        # batches means some batch was applied by two at once.
        assert len({r["txid"] for r in rows}) > consumer.stats.batches
        _in_published_order(rows, units)

        # A poison event fails its group; it is dead-lettered, everything else applied once.
        poison = initiative_submitted(unit_id=units[0], title="poison")
        more = [initiative_submitted(unit_id=units[i % len(units)], title=f"t-{len(events) + i}")
                for i in range(PARTITIONS * PER_PARTITION)]
        await _publish(producer, [*more[:10], poison, *more[10:]])
        await wait_for(lambda: _applied(pool, len(events) + len(more)), timeout=60)
        await wait_for(lambda: _true(consumer.stats.dead_lettered == 1))
        rows = await pool.fetch("SELECT event_id, unit_id, title, txid FROM effects ORDER BY seq")
        assert sorted(r["event_id"] for r in rows) == sorted(e.id for e in events + more)
        _in_published_order(rows, units)
        letters = [r for r in await read_topic(kafka_bootstrap_servers, f"{TOPIC}.dlq")
                   if poison.id.encode() in (r.value or b"")]
        assert len(letters) == 1
        assert await pool.fetchval("SELECT count(*) FROM inbox") == len(events) + len(more)
    finally:
        await broker.stop()
        await producer.stop()
        await pool.close()


async def _publish(producer: AIOKafkaProducer, events: list[CloudEvent]) -> None:
    for event in events:
        await producer.send(TOPIC, encode_event(event), key=event.data.unit_id.encode())
    await producer.flush()


async def _applied(pool, count: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM effects") >= count


async def _true(value: bool) -> bool:
    return value


def _in_published_order(rows, units: list[str]) -> None:
    """A unit's events (one partition) are applied in the order they were published."""
    for unit in units:
        applied = [int(r["title"].removeprefix("t-")) for r in rows if r["unit_id"] == unit]
        assert applied == sorted(applied)

"""The shared consumer against the real broker and database: once-only, dead letters, poison."""

from __future__ import annotations

import uuid

import asyncpg
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
TOPIC = f"thidua.consumertest-{RUN}.v1"


handlers = Handlers()


@handlers.on
async def record_effect(ctx: Context, event: CloudEvent[InitiativeSubmitted]) -> None:
    if event.data.title == "poison":
        raise ValueError("this initiative always fails")
    await ctx.conn.execute("INSERT INTO effects (event_id, title) VALUES ($1, $2)", event.id,
                           event.data.title)


@pytest.fixture(scope="module")
async def consumer_under_test(kafka_bootstrap_servers, database_url):
    await ensure_topics(kafka_bootstrap_servers, [(TOPIC, 3), (f"{TOPIC}.dlq", 3)])
    schema = f"consumer_{RUN}"
    pool = await open_schema(database_url, schema)
    await pool.execute("CREATE TABLE effects (event_id text, title text)")
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap_servers, service_name="consumer-test",
        consumer_group=f"consumer-test-{RUN}", consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=500, consumer_max_attempts=3,
        consumer_retry_backoff_ms=20, consumer_retry_backoff_max_ms=50,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    broker, consumer = await start_consumer(settings, pool, producer, handlers, topics=[TOPIC])
    yield consumer, pool, producer
    await broker.stop()
    await producer.stop()
    await pool.close()


async def titles_applied(pool: asyncpg.Pool, *titles: str) -> list[str]:
    rows = await pool.fetch("SELECT title FROM effects WHERE title = ANY($1::text[])", list(titles))
    return [r["title"] for r in rows]


async def dead_letters(bootstrap: str, marker: bytes) -> list:
    return [r for r in await read_topic(bootstrap, f"{TOPIC}.dlq") if marker in (r.value or b"")]


async def test_an_event_delivered_twice_is_applied_once(consumer_under_test):
    _consumer, pool, producer = consumer_under_test
    title = f"twice-{uuid.uuid4().hex[:6]}"
    event = initiative_submitted(title=title)
    for _ in range(2):
        await producer.send_and_wait(TOPIC, encode_event(event), key=b"u-1")
    follower = initiative_submitted(title=f"{title}-after")
    await producer.send_and_wait(TOPIC, encode_event(follower), key=b"u-1")
    await wait_for(lambda: titles_applied(pool, f"{title}-after"))
    assert await titles_applied(pool, title) == [title]
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event.id) == 1


async def test_a_malformed_record_is_dead_lettered_with_its_reason_and_the_next_is_applied(
    consumer_under_test, kafka_bootstrap_servers
):
    _consumer, pool, producer = consumer_under_test
    marker = uuid.uuid4().hex.encode()
    await producer.send_and_wait(TOPIC, b"{not json " + marker, key=b"u-2",
                                 headers=[("origin", b"\xff\xfe not utf-8")])
    good = initiative_submitted(title=f"good-{marker.decode()}")
    await producer.send_and_wait(TOPIC, encode_event(good), key=b"u-2")
    await wait_for(lambda: titles_applied(pool, good.data.title))
    [letter] = await wait_for(lambda: dead_letters(kafka_bootstrap_servers, marker))
    headers = dict(letter.headers)
    assert letter.value == b"{not json " + marker  # the original bytes, untouched
    assert headers["origin"] == b"\xff\xfe not utf-8"  # headers too, even those not UTF-8
    assert headers["thidua-dlq-reason-code"] == b"not_json"
    assert headers["thidua-dlq-consumer-group"] == f"consumer-test-{RUN}".encode()
    assert headers["thidua-dlq-original-topic"] == TOPIC.encode()


async def test_an_event_with_invalid_data_is_dead_lettered_naming_the_field(
    consumer_under_test, kafka_bootstrap_servers
):
    _, pool, producer = consumer_under_test
    marker = uuid.uuid4().hex
    event = initiative_submitted(title=f"invalid-{marker}")
    broken = encode_event(event).replace(b'"claimed_benefit_vnd":35000000', b'"claimed_benefit_vnd":-1')
    await producer.send_and_wait(TOPIC, broken, key=b"u-3")
    [letter] = await wait_for(lambda: dead_letters(kafka_bootstrap_servers, marker.encode()))
    headers = dict(letter.headers)
    assert headers["thidua-dlq-reason-code"] == b"invalid_data"
    assert b"claimed_benefit_vnd" in headers["thidua-dlq-reason"]
    assert await titles_applied(pool, event.data.title) == []


async def test_a_poison_event_is_retried_then_dead_lettered_without_blocking_its_partition(
    consumer_under_test, kafka_bootstrap_servers
):
    _consumer, pool, producer = consumer_under_test
    poison = initiative_submitted(title="poison")
    after = initiative_submitted(title=f"after-poison-{uuid.uuid4().hex[:6]}")
    await producer.send_and_wait(TOPIC, encode_event(poison), key=b"u-4")
    await producer.send_and_wait(TOPIC, encode_event(after), key=b"u-4")
    await wait_for(lambda: titles_applied(pool, after.data.title))
    [letter] = await wait_for(lambda: dead_letters(kafka_bootstrap_servers, poison.id.encode()))
    headers = dict(letter.headers)
    assert headers["thidua-dlq-reason-code"] == b"handler_failed"
    assert b"this initiative always fails (after 3 attempts)" in headers["thidua-dlq-reason"]
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", poison.id) == 0

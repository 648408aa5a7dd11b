"""`thidua replay scoring --rebuild`: scoring's whole schema rebuilt from the topics beside the
live one and swapped in, on the real broker and database — the same standings, nothing
announced again, commands' state carried over, a running worker refused."""

from __future__ import annotations

import asyncio
import io
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts import encode_event
from contracts.topics import SCORES
from services.ops.consumer_replay import ReplayRefused
from services.ops.schema_rebuild import check_rebuildable, rebuild_schema
from services.runtime.service import ServiceRuntime
from services.scoring.app import definition as scoring_definition
from services.scoring.settings import ScoringSettings
from tests.support.kafka_log import wait_for
from tests.support.runtime import test_settings as settings_for
from tests.support.scoring_mix import scoring_mix

pytestmark = pytest.mark.integration


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, n) for n in consumer.partitions_for_topic(topic)]
        return {tp.partition: o for tp, o in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str, partitions) -> dict[TopicPartition, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()


async def standings(conn, schema: str, campaign_id: str) -> dict:
    scores = await conn.fetch(
        f"""SELECT subject_kind, subject_id, total_points FROM {schema}.scores
             WHERE campaign_id = $1 ORDER BY 1, 2""", campaign_id)
    facts = await conn.fetch(
        f"""SELECT fact_id, subject_kind, subject_id, rule, points FROM {schema}.fact_points
             WHERE campaign_id = $1 ORDER BY 1, 2, 3""", campaign_id)
    finalized = await conn.fetchval(
        f"SELECT count(*) FROM {schema}.phases WHERE campaign_id = $1 AND finalized_at IS NOT "
        "NULL", campaign_id)
    return {"scores": [tuple(r) for r in scores], "facts": [tuple(r) for r in facts],
            "finalized": finalized}


async def test_scoring_is_rebuilt_beside_the_live_schema_and_swapped_in(infrastructure):
    run = uuid.uuid4().hex[:8]
    settings = settings_for(ScoringSettings, infrastructure, "scoring").model_copy(update={
        "db_schema": f"scoring_rb_{run}", "consumer_group": f"thidua-scoring-rb-{run}",
        "role": "worker"})
    schema, bootstrap = settings.db_schema, infrastructure.kafka_bootstrap_servers
    definition = scoring_definition(settings)
    mix = scoring_mix(f"cmp-rb-{run}", units=8, unit_prefix=f"u-rb-{run}")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    conn = await asyncpg.connect(infrastructure.database_url)
    runtime = ServiceRuntime(definition)
    try:
        await runtime.start()
        for event in [mix.launch, *mix.events, mix.close]:
            await producer.send(event.data.topic.name, encode_event(event),
                                key=event.partition_key().encode())
        await producer.flush()
        await wait_for(lambda: runtime.pool.fetchval(
            "SELECT finalized_at IS NOT NULL FROM phases WHERE campaign_id = $1",
            mix.campaign_id), timeout=120)
        await wait_for(lambda: runtime.pool.fetchval("SELECT count(*) = 0 FROM outbox"))
        await runtime.pool.execute(
            """INSERT INTO idempotency_keys (idempotency_key, fingerprint, status_code, response,
                                             expires_at)
               VALUES ($1, 'f', 200, '{}'::bytea, now() + interval '1 day')""", f"what-if-{run}")
        await runtime.stop()

        live = await standings(conn, schema, mix.campaign_id)
        assert len(live["scores"]) > 8 and live["finalized"] == 1
        announced = await end_offsets(bootstrap, SCORES.name)
        # An API connection keeps a prepared statement on the live tables across the swap.
        api = await asyncpg.connect(infrastructure.database_url,
                                    server_settings={"search_path": schema})
        reading = await api.prepare(
            "SELECT count(*) FROM scores WHERE campaign_id = $1")
        assert await reading.fetchval(mix.campaign_id) == len(live["scores"])

        out = io.StringIO()
        done = await rebuild_schema(bootstrap, infrastructure.database_url, definition, out)

        assert await standings(conn, schema, mix.campaign_id) == live
        assert await standings(conn, done.replaced_by, mix.campaign_id) == live
        assert await end_offsets(bootstrap, SCORES.name) == announced  # nothing announced
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox") == 0
        assert await conn.fetchval(
            f"SELECT count(*) FROM {schema}.idempotency_keys WHERE idempotency_key = $1",
            f"what-if-{run}") == 1
        assert done.committed and done.records >= len(mix.events) + 2
        assert await committed(bootstrap, settings.group_id, done.offsets) == done.offsets
        assert "rebuilt from" in out.getvalue() and done.replaced_by in out.getvalue()
        # The prepared statement reads the rebuilt tables, not the replaced ones.
        await conn.execute(f"DELETE FROM {done.replaced_by}.scores")
        assert await reading.fetchval(mix.campaign_id) == len(live["scores"])
        await api.close()

        # The workers start where the rebuild stopped and apply what comes next once.
        runtime = ServiceRuntime(definition)
        await runtime.start()
        late = mix.events[0].model_copy(update={"id": str(uuid.uuid4())})
        await producer.send(late.data.topic.name, encode_event(late),
                            key=late.partition_key().encode())
        await producer.flush()
        await wait_for(lambda: runtime.pool.fetchval(
            "SELECT count(*) FROM late_events WHERE campaign_id = $1", mix.campaign_id))
        await asyncio.sleep(1)
        assert await standings(conn, schema, mix.campaign_id) == live  # finalized stays final
        assert await conn.fetchval(
            f"SELECT count(*) FROM {schema}.late_events WHERE campaign_id = $1",
            mix.campaign_id) == 1

        # While a worker runs, nothing is touched.
        with pytest.raises(ReplayRefused, match="running members|no partitions in time"):
            await rebuild_schema(bootstrap, infrastructure.database_url, definition,
                                 io.StringIO())
        assert not await conn.fetchval(
            "SELECT count(*) FROM pg_namespace WHERE nspname = $1", f"{schema}_rebuild")
    finally:
        await runtime.stop()
        await producer.stop()
        for name in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1",
                                     f"{schema}%"):
            await conn.execute(f"DROP SCHEMA {name[0]} CASCADE")
        await conn.close()


@pytest.mark.parametrize("service", ["awards", "notify", "registration"])
def test_a_service_whose_handling_is_not_a_pure_projection_is_not_rebuilt_whole(service):
    from services.ops.consumer_replay import service_definition

    definition = service_definition(service)
    with pytest.raises(ReplayRefused, match="cannot be rebuilt from its topics"):
        check_rebuildable(definition, tuple(t.name for t in definition.consumes))


def test_rebuilding_scoring_reads_every_topic_it_consumes():
    definition = scoring_definition(ScoringSettings())
    every = tuple(t.name for t in definition.consumes)
    assert check_rebuildable(definition, every) == ("idempotency_keys",)
    with pytest.raises(ReplayRefused, match="leave out --topic"):
        check_rebuildable(definition, every[:1])

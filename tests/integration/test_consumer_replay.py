"""`thidua replay`: a stopped service's consumer reads its topics again from the beginning or a
time, on the real broker; with `--rebuild` its directory is emptied and refilled from history."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import CAMPAIGNS, INITIATIVES, ORG
from services.ops.consumer_replay import ReplayPlan, ReplayRefused, replay_consumer
from services.registration.app import definition as registration_definition
from services.registration.settings import RegistrationSettings
from services.runtime.service import ServiceRuntime
from tests.support.directory import publish_tree, wait_until_projected
from tests.support.events import member_state, unit_state
from tests.support.kafka_log import read_topic
from tests.support.runtime import test_settings as settings_for

pytestmark = pytest.mark.integration
DAY = date(2025, 7, 1)


@pytest.fixture
async def projected(infrastructure):
    """A registration worker of its own schema and group that has projected a small tree."""
    unique = uuid.uuid4().hex[:8]
    settings = settings_for(RegistrationSettings, infrastructure, "registration").model_copy(
        update={"db_schema": f"replay_{unique}", "consumer_group": f"thidua-replay-{unique}",
                "role": "worker"})
    unit = f"u-replay-{unique}"
    events = [unit_state(unit, None, DAY, name="Công đoàn Trường THCS Láng Thượng"),
              member_state(f"m-replay-{unique}", unit, DAY)]
    tree = [e.data for e in events]
    await publish_tree(infrastructure.kafka_bootstrap_servers, tree)
    runtime = ServiceRuntime(registration_definition(settings))
    await runtime.start()
    await wait_until_projected([runtime.directory], tree)
    yield settings, runtime, unit, tree
    await runtime.stop()
    conn = await asyncpg.connect(infrastructure.database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {settings.db_schema} CASCADE")
    finally:
        await conn.close()


async def scalar(database_url: str, schema: str, sql: str, *args):
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql.replace("{schema}", schema), *args)
    finally:
        await conn.close()


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        return {n: await consumer.committed(TopicPartition(topic, n))
                for n in sorted(consumer.partitions_for_topic(topic))}
    finally:
        await consumer.stop()


async def test_a_running_consumer_is_not_replayed_and_nothing_changes(projected, infrastructure):
    settings, runtime, unit, _ = projected
    before = await committed(infrastructure.kafka_bootstrap_servers, settings.group_id, ORG.name)
    with pytest.raises(ReplayRefused, match="running members"):
        await replay_consumer(infrastructure.kafka_bootstrap_servers, infrastructure.database_url,
                              runtime.definition, ReplayPlan("registration", (ORG.name,),
                                                             rebuild=True), io.StringIO())
    assert await committed(infrastructure.kafka_bootstrap_servers, settings.group_id,
                           ORG.name) == before
    assert await scalar(infrastructure.database_url, settings.db_schema,
                        "SELECT count(*) FROM {schema}.directory_units WHERE unit_id = $1",
                        unit) == 1


async def test_rebuild_empties_the_directory_and_the_restarted_worker_refills_it(
        projected, infrastructure):
    settings, runtime, unit, tree = projected
    url, schema = infrastructure.database_url, settings.db_schema
    await scalar(url, schema, "UPDATE {schema}.directory_units SET name = 'hỏng' "
                 "WHERE unit_id = $1 RETURNING 1", unit)
    await runtime.stop()
    out = io.StringIO()
    await replay_consumer(infrastructure.kafka_bootstrap_servers, url, runtime.definition,
                                ReplayPlan("registration", (ORG.name,), rebuild=True,
                                           dry_run=True), out)
    assert "would empty directory_units, directory_members, directory_clusters" in out.getvalue()
    assert await scalar(url, schema, "SELECT count(*) FROM {schema}.directory_units") > 0
    done = await replay_consumer(infrastructure.kafka_bootstrap_servers, url, runtime.definition,
                                 ReplayPlan("registration", (ORG.name,), rebuild=True),
                                 io.StringIO())
    assert set(done.offsets.values()) == {0}  # tansu keeps the whole log
    assert done.inbox_rows_deleted >= len(tree)
    assert await scalar(url, schema, "SELECT count(*) FROM {schema}.directory_units") == 0
    assert await scalar(url, schema, "SELECT count(*) FROM {schema}.inbox") == 0
    assert set((await committed(infrastructure.kafka_bootstrap_servers, settings.group_id,
                                ORG.name)).values()) == {0}

    again = ServiceRuntime(registration_definition(settings))
    await again.start()
    try:
        await wait_until_projected([again.directory], tree)
        assert await scalar(url, schema, "SELECT name FROM {schema}.directory_units "
                            "WHERE unit_id = $1", unit) == "Công đoàn Trường THCS Láng Thượng"
    finally:
        await again.stop()


async def test_a_replay_since_a_time_starts_each_partition_there_and_keeps_the_tables(
        projected, infrastructure):
    settings, runtime, unit, _ = projected
    await runtime.stop()
    bootstrap = infrastructure.kafka_bootstrap_servers
    await asyncio.sleep(0.05)
    since = datetime.now(UTC)
    await asyncio.sleep(0.05)
    later = [unit_state(f"{unit}-{n}", unit, DAY).data for n in range(30)]
    await publish_tree(bootstrap, later)
    done = await replay_consumer(bootstrap, infrastructure.database_url, runtime.definition,
                                 ReplayPlan("registration", (ORG.name,), since=since),
                                 io.StringIO())
    # Every partition restarts at its first record written at or after `since`, or at its end.
    records = await read_topic(bootstrap, ORG.name)
    since_ms = since.timestamp() * 1000
    expected = {tp.partition: min((r.offset for r in records if r.partition == tp.partition
                                   and r.timestamp >= since_ms),
                                  default=max((r.offset + 1 for r in records
                                               if r.partition == tp.partition), default=0))
                for tp in done.offsets}
    assert {tp.partition: offset for tp, offset in done.offsets.items()} == expected
    assert sum(1 for r in records if r.timestamp >= since_ms) == len(later)
    assert done.tables == ()
    assert await committed(bootstrap, settings.group_id, ORG.name) == expected
    assert await scalar(infrastructure.database_url, settings.db_schema,
                        "SELECT count(*) FROM {schema}.directory_units WHERE unit_id = $1",
                        unit) == 1


@pytest.mark.parametrize(("topics", "since", "refusal"), [
    ((INITIATIVES.name,), None, "does not consume"),
    ((CAMPAIGNS.name,), None, "does not consume"),
    ((ORG.name,), datetime(2025, 1, 1, tzinfo=UTC), "from the beginning"),
])
async def test_unsafe_or_unknown_replays_are_refused(infrastructure, topics, since, refusal):
    settings = settings_for(RegistrationSettings, infrastructure, "registration")
    with pytest.raises(ReplayRefused, match=refusal):
        await replay_consumer(infrastructure.kafka_bootstrap_servers, infrastructure.database_url,
                              registration_definition(settings),
                              ReplayPlan("registration", topics, since=since, rebuild=True),
                              io.StringIO())


def test_thidua_replay_dry_run_prints_each_partitions_offset_and_changes_nothing(infrastructure):
    env = os.environ | {"KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
                        "DATABASE_URL": infrastructure.database_url,
                        "REGISTRATION_CONSUMER_GROUP": f"thidua-dry-{uuid.uuid4().hex[:8]}"}
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted with the output
        [sys.executable, "-m", "services.devstack.cli", "replay", "registration", "--topic",
         "org", "--from-beginning", "--rebuild", "--dry-run"],
        env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith("would set thidua-dry-") for line in lines) == ORG.partitions
    assert "would empty directory_units, directory_members, directory_clusters" in lines
    refused = subprocess.run(  # noqa: PLW1510
        [sys.executable, "-m", "services.devstack.cli", "replay", "registration", "--topic",
         "initiatives", "--from-beginning"], env=env, capture_output=True, text=True, timeout=180)
    assert refused.returncode == 1 and "does not consume thidua.initiatives.v1" in refused.stderr

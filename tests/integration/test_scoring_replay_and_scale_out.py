"""Scoring on the real broker and database: the close overtaking the phase's last events still
finalizes the right standings once; two workers in one group derive what one does; and a
worker reading the topics from offset zero after the fact (a replay, its large batches each
applied in two transactions side by side) derives what the live one did."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from contracts import CloudEvent, encode_event
from services.runtime.db import open_schema
from services.runtime.settings import ServiceSettings
from services.runtime.subscription import start_consumer
from services.scoring.handlers import handlers
from services.scoring.repository import ScoringRepository
from tests.support.kafka_log import wait_for
from tests.support.scoring_mix import scoring_mix

pytestmark = pytest.mark.integration
MIGRATIONS = ("scoring", Path(__file__).parents[2] / "services" / "scoring" / "migrations")
FINALIZED = "thidua.phase.standings_finalized.v1"


class Worker:
    """A scoring worker of a consumer group on its own schema."""

    def __init__(self, bootstrap: str, database_url: str, group: str, schema: str) -> None:
        self.bootstrap, self.database_url, self.group, self.schema = (
            bootstrap, database_url, group, schema)
        self.brokers = []

    async def open(self) -> Worker:
        self.pool = await open_schema(self.database_url, self.schema, MIGRATIONS, max_size=6)
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await self.producer.start()
        return self

    async def start_replica(self, **overrides) -> None:
        settings = ServiceSettings(**{
            "kafka_bootstrap_servers": self.bootstrap, "service_name": "scoring",
            "consumer_group": self.group, "consumer_max_records": 100,
            "consumer_session_timeout_ms": 6000, "consumer_heartbeat_interval_ms": 500,
            "consumer_retry_backoff_ms": 20, "consumer_retry_backoff_max_ms": 200, **overrides})
        broker, _ = await start_consumer(settings, self.pool, self.producer, handlers,
                                         repository=ScoringRepository)
        self.brokers.append(broker)

    async def finalized(self, campaign_id: str) -> bool:
        return await self.pool.fetchval(
            "SELECT finalized_at IS NOT NULL FROM phases WHERE campaign_id = $1",
            campaign_id) or False

    async def state(self, campaign_id: str) -> dict:
        scores = await self.pool.fetch(
            """SELECT subject_kind, subject_id, total_points FROM scores
               WHERE campaign_id = $1 ORDER BY 1, 2""", campaign_id)
        facts = await self.pool.fetch(
            """SELECT fact_id, subject_kind, subject_id, rule, points FROM fact_points
               WHERE campaign_id = $1 ORDER BY 1, 2, 3""", campaign_id)
        return {"scores": [tuple(r) for r in scores], "fact_points": [tuple(r) for r in facts]}

    async def announced(self, campaign_id: str) -> tuple[int, list[int]]:
        """(score changes of the campaign in the outbox, score_changed_count of each final)."""
        changes = await self.pool.fetchval(
            """SELECT count(*) FROM outbox WHERE event_type = 'thidua.score.changed.v1'
               AND convert_from(value, 'UTF8')::jsonb->'data'->>'campaign_id' = $1""",
            campaign_id)
        finals = await self.pool.fetch(
            """SELECT (convert_from(value, 'UTF8')::jsonb->'data'->>'score_changed_count')::int
               FROM outbox WHERE event_type = $2
                 AND convert_from(value, 'UTF8')::jsonb->'data'->>'campaign_id' = $1""",
            campaign_id, FINALIZED)
        return changes, [r[0] for r in finals]

    async def close(self) -> None:
        for broker in self.brokers:
            await broker.stop()
        await self.producer.stop()
        await self.pool.close()


async def publish(producer: AIOKafkaProducer, events: list[CloudEvent]) -> None:
    for i, event in enumerate(events):
        await producer.send(event.data.topic.name, encode_event(event),
                            key=event.partition_key().encode())
        if i % 100 == 99:
            await asyncio.sleep(0.02)  # a stream, not one burst
    await producer.flush()


async def test_one_worker_two_workers_and_a_replay_derive_the_same_final_standings(
    kafka_bootstrap_servers, database_url
):
    run = uuid.uuid4().hex[:8]
    mix = scoring_mix(f"cmp-mix-{run}", units=30, unit_prefix=f"u-{run}")
    # The close overtakes the last tenth of the phase's events (another topic, other partitions).
    tail = len(mix.events) // 10
    stream = [mix.launch, *mix.events[:-tail], mix.close, *mix.events[-tail:]]

    live = await Worker(kafka_bootstrap_servers, database_url, f"scoring-live-{run}",
                        f"scoring_live_{run}").open()
    pair = await Worker(kafka_bootstrap_servers, database_url, f"scoring-pair-{run}",
                        f"scoring_pair_{run}").open()
    replay = await Worker(kafka_bootstrap_servers, database_url, f"scoring-replay-{run}",
                          f"scoring_replay_{run}").open()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        await live.start_replica()
        await asyncio.gather(pair.start_replica(), pair.start_replica())
        await publish(producer, stream)
        for worker in (live, pair):
            await wait_for(lambda w=worker: w.finalized(mix.campaign_id), timeout=120)
        # From offset zero, everything already in the topics: large batches over many
        # partitions, each applied in two transactions side by side as a deployed worker does.
        await replay.start_replica(consumer_max_records=2000, consumer_apply_connections=2,
                                   consumer_top_up_ms=20)
        await wait_for(lambda: replay.finalized(mix.campaign_id), timeout=120)

        expected = await live.state(mix.campaign_id)
        assert len(expected["scores"]) > 30 * 4  # units and members were scored
        assert await pair.state(mix.campaign_id) == expected
        assert await replay.state(mix.campaign_id) == expected
        for worker in (live, pair, replay):
            changes, finals = await worker.announced(mix.campaign_id)
            assert finals == [changes], worker.group  # one final, counting every change
        # the barrier saw every accepted event
        counts = await live.pool.fetch(
            """SELECT counter, sum(n)::int FROM phase_counts WHERE campaign_id = $1
               AND counter LIKE 'thidua.%' GROUP BY 1""", mix.campaign_id)
        assert dict(counts) == mix.close.data.accepted_counts
    finally:
        await producer.stop()
        for worker in (live, pair, replay):
            await worker.close()

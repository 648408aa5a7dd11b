"""The service runtime: pool, migrations, outbox relay, consumer and HTTP, started in one place.

Every service is a `ServiceDefinition` (its name, settings, migrations, event handlers and HTTP
routers); `ServiceRuntime` brings the parts up in dependency order and down in reverse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter
from faststream.kafka import KafkaBroker

from contracts import Topic

from .consumer import EventConsumer, Handler
from .db import open_schema
from .kafka import create_producer
from .relay import OutboxRelay
from .settings import ServiceSettings
from .subscription import start_consumer

log = structlog.get_logger()


@dataclass
class ServiceDefinition:
    name: str
    settings: ServiceSettings
    migrations_dir: Path
    consumes: Sequence[Topic] = ()
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    routers: Sequence[APIRouter] = ()

    @property
    def schema(self) -> str:
        return self.settings.db_schema or self.name


class ServiceRuntime:
    def __init__(self, definition: ServiceDefinition) -> None:
        self.definition = definition
        self.settings = definition.settings
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self.broker: KafkaBroker | None = None
        self._relay_task: asyncio.Task | None = None

    async def start(self) -> None:
        d, s = self.definition, self.settings
        self.pool = await open_schema(
            s.database_url, d.schema, (d.name, d.migrations_dir),
            min_size=s.db_pool_min, max_size=s.db_pool_max,
        )
        self.producer = create_producer(s)
        await self.producer.start()
        self.relay = OutboxRelay(
            s.database_url,
            d.schema,
            self.producer,
            batch_size=s.relay_batch_size,
            poll_interval=s.relay_poll_interval_ms / 1000,
            max_commit_wait=s.relay_max_commit_wait_ms / 1000,
        )
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{d.name}-outbox-relay")
        if d.handlers:
            self.broker, self.consumer = await start_consumer(
                s, self.pool, self.producer, d.handlers, [t.name for t in d.consumes]
            )
        log.info("service_started", schema=d.schema, consumes=[t.name for t in d.consumes])

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.stop()  # finishes the batch in hand, then leaves the group
        if self._relay_task is not None:
            self._relay_task.cancel()
            await asyncio.gather(self._relay_task, return_exceptions=True)
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
        log.info("service_stopped")

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state; the service is ready when all say "ok"."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"failing: {type(exc).__name__}"
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 2.0)
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"failing: {type(exc).__name__}"
        relay_down = self._relay_task is None or self._relay_task.done()
        checks["outbox_relay"] = "failing: stopped" if relay_down else "ok"
        if self.definition.handlers:
            running = self.broker is not None and self.broker.running
            checks["consumer"] = "ok" if running else "failing: not running"
        return checks

    def stats(self) -> dict:
        out: dict = {"relay": vars(self.relay.stats) if self.relay else None}
        if self.consumer is not None:
            out["consumer"] = vars(self.consumer.stats)
        return out

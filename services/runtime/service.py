"""The service runtime: pool, migrations, outbox relay, consumer and HTTP, started in one place.

Every service is a `ServiceDefinition` (its name, settings, migrations, event handlers, the
repository its handlers use, HTTP routers); `ServiceRuntime` brings the parts its role needs up
in dependency order and down in reverse:

- `api`: the pool (migrations) for HTTP commands and queries; commands' events wait in the
  outbox for a worker's relay.
- `worker`: the pool, the producer, the outbox relay, the consumer and inbox retention; its HTTP
  answers health, readiness and metrics only.
- `all`: both, in one process.

Every service also runs the runtime's own handlers: the directory projection of the org events
(`directory`), so each keeps the union tree in its schema; `runtime.directory` reads it, in
every role.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter
from faststream.kafka import KafkaBroker

from contracts import Topic

from . import outbox_wake
from .consumer import EventConsumer
from .context import Clock, Envelopes, system_clock
from .db import open_schema
from .directory import Directory, directory_handlers
from .gc_tuning import freeze_startup_objects
from .handlers import Handlers
from .kafka import create_producer
from .relay import OutboxRelay
from .retention import prune_forever
from .settings import ServiceSettings
from .subscription import start_consumer

log = structlog.get_logger()


@dataclass
class ServiceDefinition:
    name: str
    settings: ServiceSettings
    migrations_dir: Path
    handlers: Handlers = field(default_factory=Handlers)
    # Builds the service's repository on the batch's connection (handlers get it as ctx.repo).
    repository: Callable[[asyncpg.Connection], Any] = lambda conn: None
    routers: Sequence[APIRouter] = ()
    clock: Clock = system_clock
    # Background tasks of the worker role, each a coroutine function of the started runtime
    # (pool, envelopes, settings), run beside the consumer until the service stops (notify's
    # e-mail sender). Readiness checks each by its name less `run_`; one that ended fails it.
    workers: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = ()
    # Path prefix -> largest body its routes take, for uploads larger than a command (the rest
    # keep `HTTP_MAX_BODY_BYTES`).
    body_limits: Mapping[str, int] = field(default_factory=dict)
    # Whether `thidua replay --rebuild` may rebuild the whole schema from the topics, and the
    # tables it then carries over as they are because commands, not events, fill them. None:
    # commands' state and events' effects interleave (awards), or handling has effects outside
    # the database (notify's deliveries), so only the directory can be rebuilt.
    rebuild_keeps: tuple[str, ...] | None = None

    @property
    def schema(self) -> str:
        return self.settings.db_schema or self.name

    @property
    def all_handlers(self) -> Handlers:
        """What the service's consumer runs: its own handlers and the runtime's directory
        projection (an event type in both raises `HandlerDeclarationError`)."""
        return self.handlers.including(directory_handlers)

    @property
    def consumes(self) -> tuple[Topic, ...]:
        """Derived from the handled event types: one list, never two that must agree."""
        return self.all_handlers.topics

    @property
    def envelopes(self) -> Envelopes:
        """How the service's events are built: source `/thidua/<SERVICE_NAME>`, its clock."""
        return Envelopes(self.settings.service_name, self.clock)

    @property
    def runs_api(self) -> bool:
        return self.settings.role in ("api", "all")

    @property
    def runs_worker(self) -> bool:
        return self.settings.role in ("worker", "all")


class ServiceRuntime:
    def __init__(self, definition: ServiceDefinition) -> None:
        self.definition = definition
        self.settings = definition.settings
        self.envelopes = definition.envelopes
        self.handlers = definition.all_handlers
        self.pool: asyncpg.Pool | None = None
        self.directory: Directory | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self.broker: KafkaBroker | None = None
        self._relay_task: asyncio.Task | None = None
        self._retention_task: asyncio.Task | None = None
        self._worker_tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        d, s = self.definition, self.settings
        self.pool = await open_schema(
            s.database_url, d.schema, (d.name, d.migrations_dir),
            min_size=s.db_pool_min, max_size=s.db_pool_max,
        )
        self.directory = Directory(self.pool, cache_seconds=s.directory_cache_seconds,
                                   cache_size=s.directory_cache_size)
        if d.runs_worker:
            await self._start_worker()
        freeze_startup_objects()
        log.info("service_started", schema=d.schema, role=s.role,
                 consumes=[t.name for t in d.consumes] if d.runs_worker else [])

    async def _start_worker(self) -> None:
        d, s = self.definition, self.settings
        self.producer = create_producer(s)
        await self.producer.start()
        self.relay = OutboxRelay.from_settings(s, d.schema, self.producer)
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{d.name}-outbox-relay")
        if self.handlers:
            self.broker, self.consumer = await start_consumer(
                s, self.pool, self.producer, self.handlers, repository=d.repository,
                clock=d.clock,
            )
            self._retention_task = asyncio.create_task(
                prune_forever(self.pool, d.schema, s.inbox_retention_hours * 3600,
                              s.inbox_prune_interval_s),
                name=f"{d.name}-inbox-retention",
            )
        self._worker_tasks = [
            asyncio.create_task(worker(self), name=worker.__name__.removeprefix("run_"))
            for worker in d.workers
        ]

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.stop()  # finishes the batch in hand, then leaves the group
        for task in (*self._worker_tasks, self._relay_task, self._retention_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
            await outbox_wake.waker(self.definition.schema).close()
        log.info("service_stopped")

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state; the service is ready when all say "ok"."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"failing: {type(exc).__name__}"
        if not self.definition.runs_worker:
            return checks  # an API process needs only its database
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 2.0)
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"failing: {type(exc).__name__}"
        checks["outbox_relay"] = self._relay_check()
        if self.handlers:
            running = self.broker is not None and self.broker.running
            if not running:
                checks["consumer"] = "failing: not running"
            else:
                checks["consumer"] = self.consumer.health.check()
        for task in self._worker_tasks:
            checks[task.get_name()] = "failing: stopped" if task.done() else "ok"
        return checks

    def _relay_check(self) -> str:
        if self._relay_task is None or self._relay_task.done():
            return "failing: stopped"
        return self.relay.health()  # recent success, not only a live task

    def stats(self) -> dict:
        out: dict = {"relay": vars(self.relay.stats) if self.relay else None}
        if self.consumer is not None:
            out["consumer"] = vars(self.consumer.stats)
        return out

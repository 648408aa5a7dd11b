"""Applying events to a service's handlers through the real consumer, without Kafka.

A `HandlerHarness` builds the runtime's `EventConsumer` on the service's handlers, repository
and `Envelopes`, over a PostgreSQL schema of its own, and feeds it `ConsumerRecord`s built from
the events a test chooses, at the topic, partition and offset it chooses. Each batch goes the
production way — decode, inbox claim, runs by type, handlers, outbox in one transaction — and
what the handlers emitted is read back from the `outbox` table.

A test must not pass because a handler failed quietly: the consumer would retry, isolate and
dead-letter, and a check on the outbox might still hold. So the harness raises a handler's
exception as it was, and fails on any dead letter (kept by a recording producer, never sent).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord

from contracts import CLOUDEVENTS_CONTENT_TYPE, CloudEvent, decode_event, encode_event
from services.runtime.consumer import EventConsumer, RepositoryFactory, RetryPolicy
from services.runtime.context import Clock, Envelopes
from services.runtime.db import open_schema
from services.runtime.dead_letters import DeadLetterPublisher
from services.runtime.handlers import Handlers

HARNESS_NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return HARNESS_NOW


@dataclass(frozen=True)
class ServiceUnderTest:
    name: str
    handlers: Handlers
    repository: RepositoryFactory = lambda conn: None
    migrations: Path | None = None  # the service's migrations directory, if it has tables


class RecordingProducer:
    """Stands in for aiokafka's producer: dead letters are kept here instead of being sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, value: bytes | None, *, key=None, headers=None):
        self.sent.append({"topic": topic, "value": value, "key": key,
                          "headers": dict(headers or ())})
        acknowledged = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


def _reporting_failures(handlers: Handlers, failures: list[BaseException]) -> Handlers:
    """The same handlers, each noting its exception before the consumer deals with it."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)  # keeps the annotations the registry reads
        async def reporting(ctx, received):
            try:
                return await fn(ctx, received)
            except Exception as exc:
                failures.append(exc)
                raise

        return reporting

    reporting = Handlers()
    for registered in handlers:
        (reporting.batch if registered.is_batch else reporting.on)(wrap(registered.fn))
    return reporting


class HandlerHarness:
    def __init__(self, pool: asyncpg.Pool, service: ServiceUnderTest, clock: Clock) -> None:
        self.pool = pool
        self.service = service
        self.dead_letters = RecordingProducer()
        self._failures: list[BaseException] = []
        self.consumer = EventConsumer(
            pool,
            _reporting_failures(service.handlers, self._failures),
            DeadLetterPublisher(self.dead_letters, f"thidua-{service.name}", service.name, pool),
            RetryPolicy(max_attempts=1),
            envelopes=Envelopes(service.name, clock),
            repository=service.repository,
            clock=clock,
        )
        self._next_offset: dict[tuple[str, int], int] = {}

    def record(
        self, event: CloudEvent, *, partition: int = 0, topic: str | None = None,
        offset: int | None = None,
    ) -> ConsumerRecord:
        """The record Kafka would deliver for `event`: by default on partition 0 of its
        topic, at the partition's next offset."""
        topic = topic or event.data.topic.name
        if offset is None:
            offset = self._next_offset.get((topic, partition), 0)
        self._next_offset[(topic, partition)] = max(
            offset + 1, self._next_offset.get((topic, partition), 0))
        key, value = event.partition_key().encode(), encode_event(event)
        return ConsumerRecord(
            topic=topic, partition=partition, offset=offset, timestamp=0, timestamp_type=0,
            key=key, value=value, checksum=None, serialized_key_size=len(key),
            serialized_value_size=len(value),
            headers=(("content-type", CLOUDEVENTS_CONTENT_TYPE.encode()),),
        )

    async def apply(self, *batch: CloudEvent | ConsumerRecord) -> None:
        """Deliver one batch (events become records on partition 0); raise what a handler
        raised, or fail if a record was dead-lettered."""
        records = [item if isinstance(item, ConsumerRecord) else self.record(item)
                   for item in batch]
        self._failures.clear()
        sent_before = len(self.dead_letters.sent)
        await self.consumer.handle_batch(records)
        if self._failures:
            raise self._failures[0]
        rejected = self.dead_letters.sent[sent_before:]
        if rejected:
            reasons = [letter["headers"]["thidua-dlq-reason"].decode() for letter in rejected]
            raise AssertionError(f"{len(rejected)} record(s) dead-lettered: {reasons}")

    async def emitted(self, event_type: str | None = None) -> list[CloudEvent]:
        """The events the handlers wrote to the outbox, in outbox order."""
        rows = await self.pool.fetch(
            "SELECT value FROM outbox WHERE $1::text IS NULL OR event_type = $1 ORDER BY seq",
            event_type,
        )
        return [decode_event(row["value"]) for row in rows]

    async def reset(self) -> None:
        """Empty every table of the schema but the migrations log: the service's, the inbox,
        the outbox and the dead-letter log."""
        tables = await self.pool.fetch(
            """SELECT quote_ident(tablename) AS name FROM pg_tables
               WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'"""
        )
        await self.pool.execute(f"TRUNCATE {', '.join(t['name'] for t in tables)}")
        self._next_offset.clear()
        self.dead_letters.sent.clear()


@asynccontextmanager
async def open_harness(
    database_url: str, service: ServiceUnderTest, clock: Clock = fixed_clock
) -> AsyncIterator[HandlerHarness]:
    """A harness over a fresh schema (dropped afterwards) with the service's tables."""
    schema = f"{service.name}_handlers_{uuid.uuid4().hex[:8]}"
    migrations = (service.name, service.migrations) if service.migrations else None
    pool = await open_schema(database_url, schema, migrations, max_size=2)
    try:
        yield HandlerHarness(pool, service, clock)
    finally:
        await pool.close()
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await admin.close()

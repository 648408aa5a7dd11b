"""Batch consumption: decode, dead-letter the undecodable, apply the rest once, in one transaction.

A batch is applied in one database transaction that also claims every event id in the inbox and
writes every event the handlers emitted to the outbox; offsets are committed (by the caller)
only after it. When the batch fails, failures that may pass are retried with backoff; a record
that still fails is isolated and dead-lettered, so one poison record never blocks its partition.
Infrastructure failures stop the batch instead: it is redelivered, not dead-lettered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka.structs import ConsumerRecord

from contracts import EventDecodeError, decode_event

from . import inbox, metrics, outbox, tracing
from .batch_transaction import batch_transaction, begin_statement
from .consumer_batch import ConsumerStats, Received
from .consumer_health import ConsumerHealth
from .context import Clock, Context, Emissions, Envelopes, system_clock
from .dead_letters import Coordinates, DeadLetterPublisher, Rejection, not_dead_lettered
from .failures import DEFAULT_RETRY, RetryPolicy, describe, is_infrastructure_failure
from .handler_calls import call_handler
from .handlers import Handlers
from .partition_groups import partition_groups
from .runs import runs_by_type

log = structlog.get_logger()

# Records decoded between two inbox claims: small enough that the database works while the next
# chunk decodes, large enough that a claim's round trip is negligible beside it.
DECODE_CHUNK = 400

RepositoryFactory = Callable[[asyncpg.Connection], Any]


class EventConsumer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        handlers: Handlers,
        dead_letters: DeadLetterPublisher,
        retry: RetryPolicy = DEFAULT_RETRY,
        *,
        envelopes: Envelopes,
        repository: RepositoryFactory = lambda conn: None,
        clock: Clock = system_clock,
        health: ConsumerHealth | None = None,
        apply_connections: int = 1,
        plan_cache_mode: str = "",
    ) -> None:
        self._pool = pool
        self._handlers = handlers
        self._dead_letters = dead_letters
        self._retry = retry
        self._envelopes = envelopes
        self._repository = repository
        self._clock = clock
        self.health = health or ConsumerHealth()
        self.stats = ConsumerStats()
        self._apply_connections = max(1, apply_connections)
        self._begin = begin_statement(plan_cache_mode)

    async def handle_batch(self, records: Sequence[ConsumerRecord]) -> None:
        started = time.perf_counter()
        partitions = {(r.topic, r.partition) for r in records}
        try:
            await self._handle(records)
        except BaseException:
            self.health.failed(partitions)
            metrics.CONSUMER_BATCH_FAILURES.labels("rewound").inc()
            raise
        self.health.succeeded(partitions)
        self.stats.batches += 1
        metrics.CONSUMER_BATCH_SIZE.observe(len(records))
        metrics.CONSUMER_BATCH_DURATION.observe(time.perf_counter() - started)

    async def _handle(self, records: Sequence[ConsumerRecord]) -> None:
        groups = partition_groups(records, self._apply_connections)
        if len(groups) == 1:
            rejections = await self._handle_group(records)
        else:
            rejections = await self._handle_groups(groups)
        await self._dead_letters.send_all(rejections)
        self.stats.dead_lettered += len(rejections)

    async def _handle_groups(self, groups: list[list[ConsumerRecord]]) -> list[Rejection]:
        """Apply each group of partitions in its own transaction, side by side. Every group
        runs to its end before a failure is raised: the batch is then redelivered whole, and
        the inbox skips what the groups that committed applied."""
        outcomes = await asyncio.gather(*(self._handle_group(g) for g in groups),
                                        return_exceptions=True)
        rejections: list[Rejection] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            rejections += outcome
        return rejections

    async def _handle_group(self, records: Sequence[ConsumerRecord]) -> list[Rejection]:
        rejections, received, failure = await self._decode_and_apply(records)
        if failure is not None and not received:
            raise failure
        if failure is not None:
            failure = await self._apply_with_retries(received, failure)
            if failure is not None:
                rejections += await self._isolate(received)
        return rejections

    async def _decode_and_apply(
        self, records: Sequence[ConsumerRecord]
    ) -> tuple[list[Rejection], list[Received], Exception | None]:
        """The first attempt: decode in chunks while the inbox claims of the chunks already
        decoded run in PostgreSQL, then the handlers on the whole batch, in one transaction.

        Decoding is this process's CPU and the claim is the database's: overlapping them is
        what lets a consumer approach the database's own ceiling. The first claim also says
        which records an earlier delivery of the batch dead-lettered: those are neither
        applied nor sent again. Returns the failure, if any, for the retries (which then apply
        the decoded events without the overlap).
        """
        rejections: list[Rejection] = []
        received: list[Received] = []
        sent: set[Coordinates] | None = None
        try:
            async with self._pool.acquire() as conn, batch_transaction(conn, self._begin):
                chunks: asyncio.Queue[list[Received] | None] = asyncio.Queue()
                claimer = asyncio.create_task(inbox.claim_chunks(conn, chunks, records))
                try:
                    for start in range(0, len(records), DECODE_CHUNK):
                        chunk_rejections, chunk = self._decode(records[start:start + DECODE_CHUNK])
                        rejections += chunk_rejections
                        received += chunk
                        if chunk:
                            chunks.put_nowait(chunk)
                        await asyncio.sleep(0)  # the claimer sends what is ready
                finally:
                    chunks.put_nowait(None)
                    fresh_ids, sent = await claimer
                received = not_dead_lettered(received, sent)
                outcome = await self._apply_claimed(conn, received, fresh_ids)
        except Exception as exc:
            if sent is None and received:
                # The claim failed before it answered: ask apart, as the retries will need it.
                sent = await self._dead_letters.already_sent(records)
            return not_dead_lettered(rejections, sent or set()), not_dead_lettered(received, sent or set()), exc
        self._count(*outcome)
        return not_dead_lettered(rejections, sent), received, None

    def _decode(self, records: Sequence[ConsumerRecord]) -> tuple[list[Rejection], list[Received]]:
        rejections: list[Rejection] = []
        received: list[Received] = []
        for record in records:
            try:
                event = decode_event(record.value)
            except EventDecodeError as exc:
                rejections.append(Rejection(record, exc.code, exc.reason))
                continue
            if event.type in self._handlers:
                received.append(Received(record, event))
            else:
                self.stats.ignored += 1  # a valid event meant for other consumers of the topic
                metrics.CONSUMER_EVENTS.labels(record.topic, event.type, "ignored").inc()
        return rejections, received

    async def _apply(self, received: Sequence[Received]) -> None:
        async with self._pool.acquire() as conn, batch_transaction(conn, self._begin):
            fresh_ids, _ = await inbox.claim(conn, [(r.record, r.event) for r in received])
            outcome = await self._apply_claimed(conn, received, fresh_ids)
        self._count(*outcome)

    async def _apply_claimed(
        self, conn: asyncpg.Connection, received: Sequence[Received], fresh_ids: set[str]
    ) -> tuple[list[Received], list[Received]]:
        """Run the handlers on the events claimed fresh; stage what they emit in the outbox.

        Returns (fresh, duplicates), to be counted once the transaction has committed.
        """
        fresh: list[Received] = []
        duplicates: list[Received] = []
        for item in received:
            if item.event.id in fresh_ids:
                fresh_ids.discard(item.event.id)  # the same id twice in one batch applies once
                fresh.append(item)
            else:
                duplicates.append(item)
        emissions = Emissions(self._envelopes)
        ctx = Context(conn, self._repository(conn), self._envelopes, emissions, self._clock)
        with tracing.consuming(fresh) as spans:
            for event_type, run in runs_by_type(fresh):
                await call_handler(self._handlers.get(event_type), ctx, run, spans)
            # Work left for the batch's end belongs to its event's trace when there is one event.
            traced = tracing.activate(spans, fresh[0].event.id) if len(fresh) == 1 else None
            try:
                await emissions.run_at_end()
            finally:
                tracing.deactivate(traced)
            emitted = emissions.drain()
            await outbox.enqueue(conn, emitted, tracing.traceparents_caused_by(emitted, spans))
        return fresh, duplicates

    def _count(self, fresh: Sequence[Received], duplicates: Sequence[Received]) -> None:
        self.stats.applied += len(fresh)
        self.stats.duplicates += len(duplicates)
        for items, outcome in ((fresh, "applied"), (duplicates, "duplicate")):
            counts: dict[tuple[str, str], int] = {}
            for item in items:
                key = (item.record.topic, item.event.type)
                counts[key] = counts.get(key, 0) + 1
            for (topic, event_type), n in counts.items():
                metrics.CONSUMER_EVENTS.labels(topic, event_type, outcome).inc(n)

    async def _apply_with_retries(
        self, received: Sequence[Received], failure: Exception | None = None
    ) -> BaseException | None:
        """Apply the whole batch (after a first `failure`, if given); retry with backoff; return
        the failure if it persists."""
        delays = self._retry.delays()
        while True:
            if failure is None:
                try:
                    await self._apply(received)
                    return None
                except Exception as exc:
                    failure = exc
            metrics.CONSUMER_BATCH_FAILURES.labels("retried").inc()
            log.warning("event_batch_failed", size=len(received), error=describe(failure))
            delay = next(delays, None)
            if delay is None:
                if is_infrastructure_failure(failure):
                    raise failure  # redeliver the batch later; the records are not at fault
                return failure
            await asyncio.sleep(delay)
            failure = None

    async def _isolate(self, received: Sequence[Received]) -> list[Rejection]:
        """Apply records one by one; those that keep failing are returned for dead-lettering.

        Each round retries every still-failing record once, so the total wait is bounded by the
        retry policy however many records fail (a batch must finish within max_poll_interval).
        """
        pending = list(received)
        failures: dict[int, BaseException] = {}
        delays = self._retry.delays()
        while pending:
            still_failing = []
            for item in pending:
                try:
                    await self._apply([item])
                except Exception as exc:
                    failures[id(item)] = exc
                    still_failing.append(item)
            pending = still_failing
            delay = next(delays, None) if pending else None
            if delay is None:
                break
            await asyncio.sleep(delay)
        for item in pending:
            if is_infrastructure_failure(failures[id(item)]):
                raise failures[id(item)]
        return [
            Rejection(
                item.record,
                "handler_failed",
                f"{describe(failures[id(item)])} (after {self._retry.max_attempts} attempts)",
                event_type=item.event.type,
            )
            for item in pending
        ]

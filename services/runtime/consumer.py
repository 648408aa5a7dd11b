"""Batch consumption: decode, dead-letter the undecodable, apply the rest once, in one transaction.

A batch is applied in one database transaction that also claims every event id in the inbox;
offsets are committed (by the caller) only after it. When the batch fails, failures that may
pass are retried with backoff; a record that still fails is isolated and dead-lettered, so one
poison record never blocks its partition. Infrastructure failures stop the batch instead: it is
redelivered, not dead-lettered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka.structs import ConsumerRecord

from contracts import CloudEvent, EventDecodeError, decode_event

from . import inbox
from .dead_letters import DeadLetterPublisher, Rejection
from .failures import describe, is_infrastructure_failure
from .logs import bind_event, unbind_event

log = structlog.get_logger()

Handler = Callable[[asyncpg.Connection, CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Received:
    record: ConsumerRecord
    event: CloudEvent

    @property
    def delivery(self) -> inbox.Delivery:
        r = self.record
        return inbox.Delivery(self.event.id, self.event.type, r.topic, r.partition, r.offset)


@dataclass
class ConsumerStats:
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff: float = 0.2
    backoff_max: float = 5.0

    def delays(self):
        delay = self.backoff
        for _ in range(self.max_attempts - 1):
            yield delay
            delay = min(delay * 2, self.backoff_max)


class EventConsumer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        handlers: Mapping[str, Handler],
        dead_letters: DeadLetterPublisher,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self._pool = pool
        self._handlers = dict(handlers)
        self._dead_letters = dead_letters
        self._retry = retry
        self.stats = ConsumerStats()

    async def handle_batch(self, records: Sequence[ConsumerRecord]) -> None:
        rejections, received = self._decode(records)
        if received:
            failure = await self._apply_with_retries(received)
            if failure is not None:
                rejections += await self._isolate(received)
        await self._dead_letters.send_all(rejections)
        self.stats.batches += 1
        self.stats.dead_lettered += len(rejections)

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
        return rejections, received

    async def _apply(self, received: Sequence[Received]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            fresh = await inbox.claim(conn, [r.delivery for r in received])
            duplicates = 0
            for item in received:
                if item.event.id not in fresh:
                    duplicates += 1
                    continue
                fresh.discard(item.event.id)  # the same id twice in one batch applies once
                event = item.event
                bind_event(event.id, event.type, event.correlationid, topic=item.record.topic)
                try:
                    await self._handlers[event.type](conn, event)
                finally:
                    unbind_event()
        self.stats.applied += len(received) - duplicates
        self.stats.duplicates += duplicates

    async def _apply_with_retries(self, received: Sequence[Received]) -> BaseException | None:
        """Apply the whole batch; retry with backoff; return the failure if it persists."""
        delays = self._retry.delays()
        while True:
            try:
                await self._apply(received)
                return None
            except Exception as exc:
                log.warning("event_batch_failed", size=len(received), error=describe(exc))
                delay = next(delays, None)
                if delay is None:
                    if is_infrastructure_failure(exc):
                        raise  # redeliver the batch later; the records are not at fault
                    return exc
                await asyncio.sleep(delay)

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
            )
            for item in pending
        ]

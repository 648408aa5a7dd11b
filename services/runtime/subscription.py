"""Binds an EventConsumer to a FastStream Kafka batch subscriber.

FastStream runs the poll loop; we choose its policies deliberately: a consumer group,
`earliest` for new groups (a new service must see the history), batches, and manual
acknowledgement: a batch's offsets are committed only after its transaction, in the background
(`offset_commits.py`), and a raised infrastructure failure rewinds the batch for redelivery.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from . import metrics
from .consumer import EventConsumer, RepositoryFactory, RetryPolicy
from .consumer_health import ConsumerHealth
from .context import Clock, Envelopes, system_clock
from .dead_letters import DeadLetterPublisher
from .gc_tuning import freeze_startup_objects
from .handlers import Handlers
from .logs import library_logger
from .offset_commits import OffsetCommits, rewind
from .settings import ServiceSettings


def _utf8_safe(record: ConsumerRecord) -> ConsumerRecord:
    # FastStream decodes every header as UTF-8 and crashes the batch on one that is not;
    # such a header is replaced (the event itself lives in the value and is decoded by us).
    headers = []
    changed = False
    for name, value in record.headers or ():
        try:
            value.decode("utf-8")
            headers.append((name, value))
        except (UnicodeDecodeError, AttributeError):
            headers.append((name, repr(value).encode()))
            changed = True
    return dataclasses.replace(record, headers=tuple(headers)) if changed else record


async def _safe_parser(records: tuple[ConsumerRecord, ...], original: Callable[..., Awaitable[Any]]) -> Any:
    message = await original(tuple(_utf8_safe(r) for r in records))
    # FastStream sees the UTF-8-safe copies; we keep the records as they were, so a dead letter
    # carries the original headers byte for byte.
    message.raw_message = records
    return message


async def _whole_message(message: Any, original: Callable[..., Awaitable[Any]]) -> Any:
    # The handler gets the message itself, records undecoded (decoding, validation and
    # dead-lettering are ours): asking FastStream for it by a context parameter would resolve
    # that parameter in a worker thread, a thread hand-off on every batch.
    return message


def subscribe(
    broker: KafkaBroker,
    consumer: EventConsumer,
    topics: Sequence[str],
    settings: ServiceSettings,
) -> Any:
    subscriber = broker.subscriber(
        *topics,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.consumer_max_records,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
        max_poll_interval_ms=settings.consumer_max_poll_interval_ms,
        auto_offset_reset=settings.consumer_auto_offset_reset,
        ack_policy=AckPolicy.MANUAL,
        parser=_safe_parser,
        decoder=_whole_message,
    )

    top_up = TopUpPolicy(settings.consumer_top_up_ms)

    commits: OffsetCommits | None = None  # of the subscriber's current Kafka consumer

    @subscriber
    async def on_batch(message: Any) -> None:
        nonlocal commits
        client = getattr(message, "consumer", None)
        if top_up.due(client, message.raw_message):
            await _top_up(message, settings.consumer_top_up_ms, settings.consumer_max_records)
        try:
            await consumer.handle_batch(message.raw_message)
        except BaseException:
            rewind(client, message.raw_message)
            raise
        if hasattr(client, "commit"):
            if commits is None or commits.consumer is not client:
                commits = OffsetCommits(client)
            commits.applied(message.raw_message)
        _report_lag(message)

    return subscriber


class TopUpPolicy:
    """Whether a delivered batch waits for the fetch its delivery starts (`_top_up`).

    Only records that waited in aiokafka's buffer while the previous batch was applied have
    more published behind them on the broker, unfetched: aiokafka fetches a partition again
    only once its buffer is taken. A batch whose records were fetched just now (a consumer
    keeping up with a trickle) has nothing behind it but what was published during that fetch's
    round trip, and topping it up would cost each of its events the whole wait (measured at 20
    events/s: 20.7 ms of a 48.5 ms mean delay, 199 batches of 200 topped up with nothing). So a
    batch tops up when its oldest partition's records were fetched at least the wait ago.
    """

    def __init__(self, wait_ms: int, now_ms: Callable[[], float] = lambda: 1000 * time.time()
                 ) -> None:
        self._wait_ms = wait_ms
        self._now_ms = now_ms  # aiokafka stamps its fetch responses with the wall clock

    def due(self, client: Any, records: Sequence[ConsumerRecord]) -> bool:
        if self._wait_ms <= 0 or client is None:
            return False
        try:
            fetched = min(client.last_poll_timestamp(tp) or 0 for tp in
                          {TopicPartition(r.topic, r.partition) for r in records})
        except (AssertionError, AttributeError, ValueError):  # revoked meanwhile, or no fetch
            return False
        if self._now_ms() - fetched >= self._wait_ms:
            return True
        metrics.CONSUMER_TOP_UPS.labels("skipped_fresh").inc()
        return False


async def _top_up(message: KafkaMessage, wait_ms: int, max_records: int) -> None:
    """Add to the batch what the fetch its delivery set off brings within `wait_ms`.

    aiokafka fetches a partition again only once its buffered records are taken, so the records
    of a batch are those fetched while the previous batch was applied; what was published
    after that fetch waits on the broker for a whole batch more. Taking the buffer starts that
    fetch; waiting briefly for it lets them be applied now. They join `raw_message`, so a
    failed batch rewinds them too (nack seeks each partition to its earliest record) and a
    successful one commits them.
    """
    client = getattr(message, "consumer", None)
    room = max_records - len(message.raw_message)
    if client is None or not hasattr(client, "getmany"):
        return
    if room <= 0:
        metrics.CONSUMER_TOP_UPS.labels("full").inc()
        return
    more = await client.getmany(timeout_ms=wait_ms, max_records=room)
    metrics.CONSUMER_TOP_UPS.labels("added" if more else "empty").inc()
    if more:
        message.raw_message = (*message.raw_message,
                               *(record for records in more.values() for record in records))


def _report_lag(message: KafkaMessage) -> None:
    """Lag of each partition in the batch: the broker's end offset minus what we have applied."""
    client = getattr(message, "consumer", None)
    highwater = getattr(client, "highwater", None)
    if highwater is None:
        return
    last: dict[tuple[str, int], int] = {}
    for record in message.raw_message:
        last[(record.topic, record.partition)] = record.offset
    for (topic, partition), offset in last.items():
        end = highwater(TopicPartition(topic, partition))
        if end is not None:
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(max(0, end - offset - 1))


def build_consumer(
    settings: ServiceSettings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    handlers: Handlers,
    *,
    repository: RepositoryFactory = lambda conn: None,
    clock: Clock = system_clock,
) -> EventConsumer:
    """The service's consumer as its settings make it (dead letters, retries, health), not yet
    fed: `start_consumer` subscribes it; a rebuild (`thidua replay --rebuild`) feeds it itself."""
    return EventConsumer(
        pool,
        handlers,
        DeadLetterPublisher(producer, settings.group_id, settings.service_name, pool,
                            settings.producer_max_request_bytes),
        RetryPolicy(
            settings.consumer_max_attempts,
            settings.consumer_retry_backoff_ms / 1000,
            settings.consumer_retry_backoff_max_ms / 1000,
        ),
        envelopes=Envelopes(settings.service_name, clock),
        repository=repository,
        clock=clock,
        health=ConsumerHealth(settings.consumer_stall_after_ms / 1000),
        apply_connections=settings.consumer_apply_connections,
        plan_cache_mode=settings.consumer_plan_cache_mode,
    )


async def start_consumer(
    settings: ServiceSettings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    handlers: Handlers,
    *,
    repository: RepositoryFactory = lambda conn: None,
    clock: Clock = system_clock,
    topics: Sequence[str] | None = None,
) -> tuple[KafkaBroker, EventConsumer]:
    """Build the consumer from settings, subscribe it and start its broker (joins the group).

    The topics are those of the handled event types; `topics` overrides them (tests use
    private topics).
    """
    consumer = build_consumer(settings, pool, producer, handlers, repository=repository,
                              clock=clock)
    if topics is None:
        topics = [topic.name for topic in handlers.topics]
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.client_id,
        request_timeout_ms=settings.consumer_request_timeout_ms,
        logger=library_logger("faststream"),
        log_level=logging.DEBUG,  # FastStream's per-message lines; ours are structured
        graceful_timeout=30.0,
    )
    subscribe(broker, consumer, topics, settings)
    await broker.start()
    freeze_startup_objects()
    return broker, consumer

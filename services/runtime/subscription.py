"""Binds an EventConsumer to a FastStream Kafka batch subscriber.

FastStream runs the poll loop and the acknowledgement; we choose its policies deliberately:
a consumer group, `earliest` for new groups (a new service must see the history), batches, and
NACK_ON_ERROR so that offsets are committed only after the batch's transaction (a raised
infrastructure failure rewinds the batch for redelivery).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from .consumer import EventConsumer
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
    return await original(tuple(_utf8_safe(r) for r in records))


async def _raw_records(message: Any, original: Callable[..., Awaitable[Any]]) -> Any:
    # Hand the records over undecoded: decoding, validation and dead-lettering are ours.
    return list(message.raw_message)


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
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=_safe_parser,
        decoder=_raw_records,
    )

    @subscriber
    async def on_batch(records: Any, message: KafkaMessage) -> None:
        await consumer.handle_batch(message.raw_message)

    return subscriber

"""Dead-lettering: a record this service cannot apply goes to `<topic>.dlq`, never silently away.

The dead-letter record keeps the original key, value and headers byte for byte, and adds
headers naming the consumer that rejected it, why, and where the original sits in the log.
A value too large for a Kafka request is replaced by a small JSON document carrying its size,
SHA-256 digest and first bytes (the original stays at the named offset for the topic's
retention), so the dead letter can always be written and the partition always advances.

Each dead letter sent is logged in `dead_letters_sent` once Kafka acknowledged it: a batch that
is redelivered (its offsets were not committed) neither re-sends nor re-applies those records.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord

from contracts.topics import DLQ_HEADER_PREFIX

from . import metrics

log = structlog.get_logger()

HEADER_PREFIX = DLQ_HEADER_PREFIX  # part of the public contract: integrators read these headers
# Room left in a request for the record's framing, key and added headers.
_ENVELOPE_ALLOWANCE = 16 * 1024
_HEAD_BYTES = 4096

Coordinates = tuple[str, int, int]


def coordinates(record: ConsumerRecord) -> Coordinates:
    return record.topic, record.partition, record.offset


@dataclass(frozen=True)
class Rejection:
    """One record the consumer gave up on, with a machine-readable code and a human reason."""

    record: ConsumerRecord
    code: str  # not_json | not_cloudevent | unknown_type | invalid_data | handler_failed
    reason: str
    event_type: str = ""


def dead_letter_headers(rejection: Rejection, consumer_group: str, service: str) -> list[tuple[str, bytes]]:
    record = rejection.record
    added = {
        "reason-code": rejection.code,
        "reason": rejection.reason[:2000],
        "consumer-group": consumer_group,
        "service": service,
        "original-topic": record.topic,
        "original-partition": str(record.partition),
        "original-offset": str(record.offset),
        "failed-at": datetime.now(UTC).isoformat(),
    }
    return list(record.headers or ()) + [
        (HEADER_PREFIX + name, value.encode()) for name, value in added.items()
    ]


def truncated_value(value: bytes) -> bytes:
    """What stands in the dead-letter topic for a value too large to be written there."""
    return json.dumps(
        {
            "thidua_dead_letter": "value_too_large",
            "original_size": len(value),
            "sha256": hashlib.sha256(value).hexdigest(),
            "head": value[:_HEAD_BYTES].decode("utf-8", errors="replace"),
        },
        ensure_ascii=False,
    ).encode()


class DeadLetterPublisher:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        consumer_group: str,
        service: str,
        pool: asyncpg.Pool | None = None,
        max_record_bytes: int = 1024 * 1024,
    ) -> None:
        self._producer = producer
        self._group = consumer_group
        self._service = service
        self._pool = pool
        self._max_value = max(1024, max_record_bytes - _ENVELOPE_ALLOWANCE)
        self.sent = 0

    async def already_sent(self, records: Sequence[ConsumerRecord]) -> set[Coordinates]:
        """Which of these records an earlier delivery of the batch dead-lettered."""
        if self._pool is None or not records:
            return set()
        # One offset range per partition keeps the query small however large the batch.
        spans: dict[tuple[str, int], tuple[int, int]] = {}
        for r in records:
            low, high = spans.get((r.topic, r.partition), (r.offset, r.offset))
            spans[(r.topic, r.partition)] = (min(low, r.offset), max(high, r.offset))
        rows = await self._pool.fetch(
            """SELECT d.topic, d.kafka_partition, d.kafka_offset
               FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[])
                    AS s(topic, kafka_partition, low, high)
               JOIN dead_letters_sent d USING (topic, kafka_partition)
               WHERE d.kafka_offset BETWEEN s.low AND s.high""",
            [t for t, _ in spans], [p for _, p in spans], [lo for lo, _ in spans.values()],
            [hi for _, hi in spans.values()],
        )
        return {(r["topic"], r["kafka_partition"], r["kafka_offset"]) for r in rows}

    async def send_all(self, rejections: list[Rejection]) -> None:
        """Publish every rejection, wait for Kafka's acks, and log the ones acknowledged.

        Raises the first failure after logging the successes, so a redelivery sends only the rest.
        """
        if not rejections:
            return
        results = await asyncio.gather(
            *(self._send(rejection) for rejection in rejections), return_exceptions=True
        )
        done = [r for r, result in zip(rejections, results, strict=True) if result is None]
        await self._remember(done)
        self.sent += len(done)
        for rejection in done:
            metrics.CONSUMER_DEAD_LETTERS.labels(rejection.record.topic, rejection.code).inc()
            metrics.CONSUMER_EVENTS.labels(
                rejection.record.topic, rejection.event_type, "dead_lettered"
            ).inc()
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure

    async def _send(self, rejection: Rejection) -> None:
        record = rejection.record
        headers = dead_letter_headers(rejection, self._group, self._service)
        value = record.value
        truncated = value is not None and len(value) > self._max_value
        if truncated:
            value = truncated_value(value)
        try:
            await (await self._producer.send(
                f"{record.topic}.dlq", value, key=record.key, headers=headers))
        except MessageSizeTooLargeError:
            # The broker's limit is below ours, or the headers are what is large: keep only ours.
            truncated = True
            ours = [(n, v) for n, v in headers if n.startswith(HEADER_PREFIX)]
            await (await self._producer.send(
                f"{record.topic}.dlq", truncated_value(record.value or b""), key=record.key,
                headers=[*ours, (HEADER_PREFIX + "headers-dropped", b"true")]))
        log.warning(
            "event_dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason_code=rejection.code,
            reason=rejection.reason[:500],
            truncated=truncated,
        )

    async def _remember(self, done: list[Rejection]) -> None:
        if self._pool is None or not done:
            return
        await self._pool.execute(
            """INSERT INTO dead_letters_sent (topic, kafka_partition, kafka_offset, reason_code)
               SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[])
               ON CONFLICT DO NOTHING""",
            [r.record.topic for r in done], [r.record.partition for r in done],
            [r.record.offset for r in done], [r.code for r in done],
        )


def not_dead_lettered(items: list, sent: set[Coordinates]) -> list:
    """The received events or rejections (items with `.record`) whose records were not
    dead-lettered already."""
    return [item for item in items if coordinates(item.record) not in sent] if sent else items

"""Dead-lettering: a record this service cannot apply goes to `<topic>.dlq`, never silently away.

The dead-letter record keeps the original key, value and headers byte for byte, and adds
headers naming the consumer that rejected it, why, and where the original sits in the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from contracts.topics import DLQ_HEADER_PREFIX

log = structlog.get_logger()

HEADER_PREFIX = DLQ_HEADER_PREFIX  # part of the public contract: integrators read these headers


@dataclass(frozen=True)
class Rejection:
    """One record the consumer gave up on, with a machine-readable code and a human reason."""

    record: ConsumerRecord
    code: str  # not_json | not_cloudevent | unknown_type | invalid_data | handler_failed
    reason: str


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


class DeadLetterPublisher:
    def __init__(self, producer: AIOKafkaProducer, consumer_group: str, service: str) -> None:
        self._producer = producer
        self._group = consumer_group
        self._service = service
        self.sent = 0

    async def send_all(self, rejections: list[Rejection]) -> None:
        """Publish every rejection and wait for Kafka to acknowledge them all."""
        futures = []
        for rejection in rejections:
            record = rejection.record
            futures.append(
                await self._producer.send(
                    f"{record.topic}.dlq",
                    record.value,
                    key=record.key,
                    headers=dead_letter_headers(rejection, self._group, self._service),
                )
            )
            log.warning(
                "event_dead_lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason_code=rejection.code,
                reason=rejection.reason,
            )
        for future in futures:
            await future
        self.sent += len(rejections)

"""What the batch consumer holds of a batch: each decoded event with its record, and the
counts it keeps for health and tests."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord

from contracts import CloudEvent


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded event and the record it came in."""

    record: ConsumerRecord
    event: CloudEvent

    @property
    def partition_id(self) -> tuple[str, int]:
        return self.record.topic, self.record.partition

    @property
    def event_type(self) -> str:
        return self.event.type


@dataclass
class ConsumerStats:
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0

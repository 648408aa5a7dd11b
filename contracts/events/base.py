"""The base of every event payload (the CloudEvent's `data`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from contracts.topics import Topic


class EventData(BaseModel):
    """One event type's payload.

    Readers are tolerant (unknown fields are ignored) so producers can add optional fields
    within v1 without breaking consumers; removing or retyping a field needs a `.v2` type.
    """

    # frozen: an event is a fact; consumers must not mutate what they received.
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    # The payload field whose value is the Kafka record key (DESIGN's key column).
    key_field: ClassVar[str] = "unit_id"

    def partition_key(self) -> str:
        """The Kafka record key: events with the same key stay ordered on one partition."""
        return str(getattr(self, self.key_field))

"""The CloudEvents 1.0 envelope, structured JSON mode: the Kafka record value is the whole event."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    model_validator,
)

from contracts.events.base import EventData

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
"""Value of the Kafka record header `content-type` on every event record."""

DataT = TypeVar("DataT", bound=EventData)


class CloudEvent(BaseModel, Generic[DataT]):
    """A thidua event: CloudEvents 1.0 context attributes, extensions, and the typed `data`."""

    # Unknown extension attributes are ignored rather than rejected: producers may add some.
    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = Field("1.0", description="CloudEvents specification version.")
    id: str = Field(
        min_length=1,
        description="Unique id of this event (a UUID4 string). A redelivered event keeps its id: "
        "consumers deduplicate on it.",
    )
    source: str = Field(
        min_length=1,
        description="URI reference of the producing context, e.g. `/thidua/registration`.",
    )
    type: str = Field(
        min_length=1,
        description="Event type, versioned, e.g. `thidua.initiative.submitted.v1`; "
        "selects the schema of `data`.",
    )
    time: AwareDatetime = Field(description="When the fact happened (RFC 3339, with offset).")
    subject: str | None = Field(
        None, description="Optional subject within the source, e.g. the initiative id."
    )
    datacontenttype: Literal["application/json"] = Field(
        "application/json", description="Media type of `data`: always JSON."
    )
    # SerializeAsAny: a CloudEvent[EventData] holding a subclass must not serialize as `{}`.
    data: SerializeAsAny[DataT] = Field(description="The payload; its schema depends on `type`.")
    district: str | None = Field(
        None,
        description="Extension: id of the district (or ward) unit the event belongs to, used for "
        "multi-district isolation; absent for city-wide events.",
    )
    correlationid: str = Field(
        min_length=1,
        description="Extension: id shared by every event of one business flow (the first "
        "command's or event's id).",
    )
    causationid: str | None = Field(
        None, description="Extension: id of the event or command that directly caused this one."
    )

    @model_validator(mode="after")
    def _type_matches_data(self) -> CloudEvent[DataT]:
        expected = getattr(type(self.data), "event_type", None)
        if expected is not None and expected != self.type:
            raise ValueError(f"type {self.type!r} does not match data model for {expected!r}")
        return self

    def partition_key(self) -> str:
        """The Kafka record key, taken from the payload (DESIGN's key column for the topic)."""
        return self.data.partition_key()

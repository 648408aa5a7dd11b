"""The base of every event payload (the CloudEvent's `data`)."""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

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


ActorRole = Literal[
    "city_admin",
    "upper_official",
    "grassroots_official",
    "council_reviewer",
    "member",
    "integrator",
    "auditor",
]
"""Role of the person or system that carried out a command (see the services' route tables)."""
ACTOR_ROLES: tuple[ActorRole, ...] = get_args(ActorRole)


class Actor(BaseModel):
    """Who carried out a command: the audit trail an award decision or a review carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    subject: str = Field(min_length=1, description="The caller's `sub` at the identity provider.")
    role: ActorRole = Field(description="The role the caller acted in.")
    unit_id: str | None = Field(
        None, description="The unit the caller acted for (null for city-wide roles)."
    )
    member_id: str | None = Field(None, description="The caller's member id, when a member.")
    name: str | None = Field(None, description="The caller's display name, when the token had one.")


class CommandEventData(EventData):
    """The payload of an event that records a person's command, so it says who gave it."""

    actor: Actor | None = Field(
        None,
        description="Who carried out the command; null only in events recorded before "
        "commands were authenticated.",
    )

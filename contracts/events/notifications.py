"""Notification outcomes, produced by notify on `thidua.notifications.v1` (key: recipient id)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from contracts.events.base import EventData
from contracts.topics import NOTIFICATIONS

Channel = Literal["email", "webhook", "in_app"]
RecipientKind = Literal["member", "unit", "integrator"]


class _Notification(EventData):
    key_field: ClassVar[str] = "recipient_id"

    notification_id: str = Field(
        min_length=1,
        description="Id of the notification; one per (source event, recipient, channel), so it "
        "is never sent twice.",
    )
    recipient_id: str = Field(min_length=1, description="Member, unit or integrator id (the key).")
    recipient_kind: RecipientKind = Field(description="What kind of recipient.")
    channel: Channel = Field(description="Channel used.")
    template: str = Field(min_length=1, description="Template name, e.g. `initiative_reviewed`.")
    subject: str = Field(min_length=1, description="Subject or title line, in Vietnamese.")
    source_event_id: str = Field(min_length=1, description="Event the notification is about.")


class NotificationDelivered(_Notification):
    event_type: ClassVar[str] = "thidua.notification.delivered.v1"
    topic = NOTIFICATIONS

    attempts: int = Field(1, ge=1, description="Attempts it took, the successful one included.")
    delivered_at: AwareDatetime = Field(description="When the channel accepted it.")


class NotificationFailed(_Notification):
    event_type: ClassVar[str] = "thidua.notification.failed.v1"
    topic = NOTIFICATIONS

    error: str = Field(min_length=1, description="Last error, e.g. `HTTP 503 from webhook`.")
    attempts: int = Field(ge=1, description="Attempts made before giving up.")
    failed_at: AwareDatetime = Field(description="When notify gave up.")

"""Notify's HTTP routes: a member's in-app inbox (pages, filters, counts, read marks), contact
points and preferences."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from services.runtime import idempotency
from services.runtime.access import Rule, Scope
from services.runtime.caller import Role
from services.runtime.identifiers import Identifier
from services.runtime.problems import problem_responses

from . import contact_points, inbox_store, member_store, pages

router = APIRouter(tags=["inbox"])
STRICT = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)

# An inbox is personal: officials see the outcomes of their decisions elsewhere, not here.
INBOX_READERS = Rule(
    "read-own-inbox", {Role.MEMBER, Role.CITY_ADMIN, Role.AUDITOR},
    summary="The member themself; the city administrator and auditors for support and "
            "inspection. Another member's inbox answers 404.",
)


class InAppNotification(BaseModel):
    notification_id: str
    template: str
    subject: str
    body: str
    channel: str
    source_event_id: str
    correlation_id: str
    created_at: datetime
    read_at: datetime | None


INBOX_KEEPERS = Rule(
    "keep-own-inbox", {Role.MEMBER}, writes=True,
    summary="The member themself. Another member's inbox answers 404.",
)


@router.get("/members/{member_id}/notifications",
            responses=problem_responses(401, 403, 404, 422, 503))
async def member_notifications(
    member_id: Identifier, request: Request, response: Response,
    scope: Annotated[Scope, Depends(INBOX_READERS)],
    limit: int = Query(50, ge=1, le=500),
    cursor: pages.Cursor = None,
    unread: bool | None = Query(None, description="`true`: unread only; `false`: read only."),
    template: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$",
                                          description="e.g. `phase_closed`.")] = None,
    correlation_id: Annotated[str | None, Query(
        max_length=128, pattern=r"^[A-Za-z0-9._:-]+$",
        description="The flow a message came from (as `X-Correlation-ID` named it).")] = None,
) -> list[InAppNotification]:
    """The member's notifications, newest first. When there is more, the `Link` header holds
    the next page (`rel="next"`, with its `cursor`)."""
    await scope.require_member(member_id)
    rows = await inbox_store.notifications_of(
        request.app.state.runtime.pool, member_id, limit + 1,
        before=pages.after(cursor), unread=unread, template=template,
        correlation_id=correlation_id)
    return [InAppNotification.model_validate(row)
            for row in pages.page(rows, limit, "notification_id", request, response)]


class InboxCounts(BaseModel):
    member_id: str
    total: int
    unread: int


@router.get("/members/{member_id}/notifications/counts",
            responses=problem_responses(401, 403, 404, 422, 503))
async def member_notification_counts(
    member_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(INBOX_READERS)],
) -> InboxCounts:
    """How many messages the member has, and how many are unread (the badge)."""
    await scope.require_member(member_id)
    counts = await inbox_store.inbox_counts(request.app.state.runtime.pool, member_id)
    return InboxCounts(member_id=member_id, **counts)


class MarkRead(BaseModel):
    """Either the messages to mark read, or `all`."""

    model_config = STRICT

    notification_ids: list[Identifier] | None = Field(
        None, min_length=1, max_length=500, description="Messages of this inbox.")
    all: bool = Field(False, description="`true`: every message of the inbox.")

    @model_validator(mode="after")
    def _one_of(self) -> MarkRead:
        if (self.notification_ids is None) == (not self.all):
            raise ValueError("give notification_ids or all: true, not both")
        return self


class Marked(InboxCounts):
    marked: int = Field(description="Messages that were unread and are now read.")


@router.post("/members/{member_id}/notifications/read",
             responses=problem_responses(401, 403, 404, 413, 422, 503))
async def mark_notifications_read(
    member_id: Identifier, body: MarkRead, request: Request,
    scope: Annotated[Scope, Depends(INBOX_KEEPERS)],
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Marked:
    """Mark messages read; one read already keeps when it was first read, so a repeat (with or
    without its `Idempotency-Key`) changes nothing more. Ids of other inboxes are ignored."""
    await scope.require_member(member_id)
    pool = request.app.state.runtime.pool
    marked = await inbox_store.mark_read(pool, member_id,
                                        None if body.all else body.notification_ids)
    return Marked(member_id=member_id, marked=marked,
                  **await inbox_store.inbox_counts(pool, member_id))


# Contacts and preferences: personal data, private to notify (never on any topic).
CONTACT_READERS = Rule(
    "read-member-contacts",
    {Role.MEMBER, Role.GRASSROOTS_OFFICIAL, Role.UPPER_OFFICIAL},
    summary="The member themself; officials of a unit whose subtree holds the member today. "
            "Anyone else gets 404, as for an unknown member.",
)
CONTACT_KEEPERS = Rule(
    "keep-member-contacts",
    {Role.MEMBER, Role.GRASSROOTS_OFFICIAL, Role.UPPER_OFFICIAL},
    writes=True,
    summary="The member themself; officials of a unit whose subtree holds the member today. "
            "Anyone else gets 404, as for an unknown member.",
)
Email = Annotated[str, StringConstraints(max_length=254),
                  AfterValidator(contact_points.valid_email)]
Phone = Annotated[str, StringConstraints(pattern=contact_points.PHONE_PATTERN)]


class ContactsIn(BaseModel):
    """The body of `PUT /members/{member_id}/contacts`: the whole set (null clears one)."""

    model_config = STRICT

    email: Email | None = Field(None, description="Where e-mail notifications go, e.g. "
                                            "`lan.nguyen@example.vn`.")
    phone: Phone | None = Field(None, description="e.g. `+84 912 345 678`.")


class Contacts(BaseModel):
    member_id: str
    email: str | None
    phone: str | None
    updated_at: datetime | None


ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class QuietHours(BaseModel):
    """E-mails falling in this period (Vietnam time) wait until its end; an end before the
    start spans midnight (`22:00` to `06:30`)."""

    model_config = STRICT

    start: ClockTime = Field(description="`HH:MM`, e.g. `22:00`.")
    end: ClockTime = Field(description="`HH:MM`, e.g. `06:30`; not equal to `start`.")

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class PreferencesIn(BaseModel):
    """The body of `PUT /members/{member_id}/preferences`: the whole set."""

    model_config = STRICT

    language: Literal["vi", "en"] = Field("vi", description="Language of e-mails.")
    email: bool = Field(True, description="E-mail notifications (false: opted out).")
    in_app: bool = Field(True, description="In-app inbox notifications (false: opted out).")
    quiet_hours: QuietHours | None = Field(None, description="No e-mail in this period.")
    email_digest: Literal["off", "daily"] = Field(
        "off", description="`daily`: one e-mail a day gathering the day's notifications.")


class Preferences(BaseModel):
    member_id: str
    language: Literal["vi", "en"]
    email: bool
    in_app: bool
    quiet_hours: QuietHours | None
    email_digest: Literal["off", "daily"]
    updated_at: datetime | None


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


def _preferences(member_id: str, row: dict | None) -> Preferences:
    row = row or {"language": "vi", "email_enabled": True, "in_app_enabled": True,
                  "quiet_start": None, "quiet_end": None, "email_digest": "off",
                  "updated_at": None}
    quiet = (QuietHours(start=_clock(row["quiet_start"]), end=_clock(row["quiet_end"]))
             if row["quiet_start"] is not None else None)
    return Preferences(member_id=member_id, language=row["language"],
                       email=row["email_enabled"], in_app=row["in_app_enabled"],
                       quiet_hours=quiet, email_digest=row["email_digest"],
                       updated_at=row["updated_at"])


def _contacts(member_id: str, row: dict | None) -> Contacts:
    row = row or {"email": None, "phone": None, "updated_at": None}
    return Contacts(member_id=member_id, **row)


@router.get("/members/{member_id}/contacts", tags=["contacts"],
            responses=problem_responses(401, 403, 404, 422, 503))
async def member_contacts(
    member_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(CONTACT_READERS)],
) -> Contacts:
    """The member's contact points (nulls when none is kept)."""
    await scope.require_member(member_id)
    return _contacts(member_id, await member_store.contacts_of(request.app.state.runtime.pool,
                                                             member_id))


@router.put("/members/{member_id}/contacts", tags=["contacts"],
            responses=problem_responses(401, 403, 404, 413, 422, 503))
async def put_member_contacts(
    member_id: Identifier, body: ContactsIn, request: Request,
    scope: Annotated[Scope, Depends(CONTACT_KEEPERS)],
) -> Contacts:
    """Replace the member's contact points. They stay in notify and travel on no topic."""
    await scope.require_member(member_id)
    row = await member_store.put_contacts(request.app.state.runtime.pool, member_id, body.email,
                                        body.phone, scope.caller.subject)
    return _contacts(member_id, row)


@router.get("/members/{member_id}/preferences", tags=["contacts"],
            responses=problem_responses(401, 403, 404, 422, 503))
async def member_preferences(
    member_id: Identifier, request: Request,
    scope: Annotated[Scope, Depends(CONTACT_READERS)],
) -> Preferences:
    """How the member wants to be told (defaults when never set: Vietnamese, every channel)."""
    await scope.require_member(member_id)
    return _preferences(member_id, await member_store.preferences_of(
        request.app.state.runtime.pool, member_id))


@router.put("/members/{member_id}/preferences", tags=["contacts"],
            responses=problem_responses(401, 403, 404, 413, 422, 503))
async def put_member_preferences(
    member_id: Identifier, body: PreferencesIn, request: Request,
    scope: Annotated[Scope, Depends(CONTACT_KEEPERS)],
) -> Preferences:
    """Replace the member's preferences: language, an opt-out per channel, quiet hours and the
    daily e-mail digest."""
    await scope.require_member(member_id)
    quiet = body.quiet_hours
    row = await member_store.put_preferences(
        request.app.state.runtime.pool, member_id, body.language, body.email, body.in_app,
        scope.caller.subject,
        quiet=(time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)) if quiet else None,
        email_digest=body.email_digest)
    return _preferences(member_id, row)

"""A batch's notices and the members of their audiences, as the plan one statement writes
(`FanoutStore.fan_out`). Free of I/O.

What a notice says is the same for every member who hears it: its in-app text, its e-mail per
language (rendered once, stored once in `message_bodies`) and its announcement
(`thidua.notification.delivered.v1`, encoded once with stand-ins for the recipient, the
notification id and the event id, which the statement fills in per member). Per member the plan
holds only ids and flags, so a phase close to 10,000 officials sends the database 10,000 short
rows, not 10,000 rendered messages and 10,000 envelopes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts import CloudEvent, encode_event
from contracts.events.notifications import NotificationDelivered
from services.runtime.context import Envelopes

from . import domain, mail
from .triggers import Notice


@dataclass(frozen=True)
class Recipient:
    """A member of an audience (by the audience's index) and how they may be reached."""

    audience: int
    member_id: str
    language: str
    in_app: bool
    by_email: bool
    digest: bool  # e-mails wait for the daily digest


@dataclass(frozen=True)
class NoticeRow:
    """What a notice says, whoever hears it."""

    idx: int
    event_id: str
    correlation_id: str
    district: str | None
    template: str
    subject: str  # in-app
    body: str  # in-app
    announcement: str  # the delivered event, with the stand-ins of `Stand_ins`


@dataclass(frozen=True)
class MailRow:
    """A notice's e-mail in one language."""

    idx: int
    language: str
    subject: str
    body_id: str
    text: str
    html: str


@dataclass(frozen=True)
class Reach:
    """One member hearing one notice: the ids of what they get (None: not on that channel)."""

    idx: int
    member_id: str
    in_app_id: str | None
    email_id: str | None
    language: str
    digest: bool


@dataclass(frozen=True)
class StandIns:
    """Strings in the encoded announcement that the statement replaces per member, each as a
    JSON string (quotes included): random, so no real value can collide with them."""

    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    recipient_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    notification_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Plan:
    notices: list[NoticeRow] = field(default_factory=list)
    mails: list[MailRow] = field(default_factory=list)
    reach: list[Reach] = field(default_factory=list)
    stand_ins: StandIns = field(default_factory=StandIns)

    @property
    def recipients(self) -> int:
        return len(self.reach)


def body_id(text: str, html: str) -> str:
    """The key of an e-mail's two parts in `message_bodies`: a hash of their content."""
    digest = hashlib.sha256(text.encode())
    digest.update(b"\0")
    digest.update(html.encode())
    return digest.hexdigest()


def plan(notices: Sequence[Notice], recipients: Sequence[Recipient], now: datetime,
         envelopes: Envelopes) -> Plan:
    """Every notice to every member of its audience, on the channels they allow; a member in
    two audiences of one event hears once, as the first (recipients come by audience)."""
    out = Plan()
    rendered: dict[tuple[int, str, str], mail.Rendered] = {}

    def render(i: int, language: str, channel: str) -> mail.Rendered:
        """Once per notice, language and channel (the in-app text has no e-mail footer)."""
        if (i, language, channel) not in rendered:
            n = notices[i]
            rendered[i, language, channel] = mail.render(
                n.template, language, n.context(language) | {"channel": channel})
        return rendered[i, language, channel]

    seen: set[tuple[str, str]] = set()
    described: set[int] = set()
    mailed: set[tuple[int, str]] = set()
    for r in recipients:
        n = notices[r.audience]
        event = n.event
        if (event.id, r.member_id) in seen:
            continue
        seen.add((event.id, r.member_id))
        if r.audience not in described:
            described.add(r.audience)
            subject, body = n.in_app or (render(r.audience, "vi", "in_app").subject,
                                         render(r.audience, "vi", "in_app").text)
            out.notices.append(NoticeRow(
                r.audience, event.id, event.correlationid, event.district, n.template, subject,
                body, _announcement(envelopes, event, n.template, subject, now, out.stand_ins)))
        if r.by_email and (r.audience, r.language) not in mailed:
            mailed.add((r.audience, r.language))
            text = render(r.audience, r.language, "email")
            out.mails.append(MailRow(r.audience, r.language, text.subject,
                                     body_id(text.text, text.html), text.text, text.html))
        out.reach.append(Reach(
            r.audience, r.member_id,
            domain.notification_id(event.id, r.member_id, "in_app") if r.in_app else None,
            domain.notification_id(event.id, r.member_id, "email") if r.by_email else None,
            r.language, r.digest))
    return out


def _announcement(envelopes: Envelopes, cause: CloudEvent, template: str, subject: str,
                  now: datetime, stand_ins: StandIns) -> str:
    event = envelopes.caused_by(cause, NotificationDelivered(
        notification_id=stand_ins.notification_id, recipient_id=stand_ins.recipient_id,
        recipient_kind="member", channel="in_app", template=template, subject=subject,
        source_event_id=cause.id, delivered_at=now), subject=stand_ins.recipient_id)
    return encode_event(event).decode().replace(f'"{event.id}"', f'"{stand_ins.event_id}"')


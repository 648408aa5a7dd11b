"""E-mail messages: subject, text and HTML parts rendered with Jinja2, in Vietnamese or English.

Each event kind has one template per language under `templates/<language>/`:
`<template>.subject.txt`, `<template>.txt` and `<template>.html` (HTML autoescaped). Filters
format Vietnamese dates (`vn_date`: dd/mm/yyyy) and amounts (`vnd`: `120.000.000 ₫`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from io import BytesIO
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.runtime.vietnamese import number, vn_date, vnd

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
_TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined, keep_trailing_newline=False, trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["vnd"] = vnd
    env.filters["vn_date"] = vn_date
    env.filters["number"] = number
    return env


ENVIRONMENT = _environment()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(template: str, language: str, context: dict[str, Any]) -> Rendered:
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    base = f"{language}/{template}"
    subject = " ".join(ENVIRONMENT.get_template(f"{base}.subject.txt").render(context).split())
    context = {**context, "subject": subject}
    return Rendered(
        subject=subject,
        text=ENVIRONMENT.get_template(f"{base}.txt").render(context).strip() + "\n",
        html=ENVIRONMENT.get_template(f"{base}.html").render(context),
    )


def message_id(notification_id: str, domain: str) -> str:
    """Stable per notification: a message sent twice (crash after the relay accepted it,
    before it was recorded) carries the same Message-ID, so receivers can drop the copy."""
    return f"<{notification_id}@{domain}>"


def domain_of(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "thidua.local"


def build_message(*, sender: str, to: str, subject: str, text: str, html: str,
                  notification_id: str, domain: str, language: str,
                  sent_at: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id(notification_id, domain)
    message["Date"] = format_datetime(sent_at)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    # After the parts: making the message multipart moves Content-* headers into the first.
    message["Content-Language"] = language
    return message


# An address written as is on the To line and the RCPT command: ASCII, no spaces, quotes,
# brackets or line breaks. Anything else goes the slow way (`Outgoing.message`), which encodes it.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


@dataclass(frozen=True)
class Shared:
    """What every recipient of one notice in one language receives alike — `From`, `Subject`,
    the MIME structure with both parts encoded — flattened once. Python's `email` package spends
    milliseconds per message folding headers and encoding parts: a fan-out to 10,000 would spend
    most of its time there, once per recipient, for the same bytes."""

    sender: str
    subject: str
    text: str
    html: str
    language: str
    data: bytes  # CRLF lines, as an 8BITMIME relay receives them (aiosmtplib's own flattening)


def shared(*, sender: str, subject: str, text: str, html: str, language: str) -> Shared:
    message = EmailMessage()
    message["From"] = sender
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = language
    out = BytesIO()
    BytesGenerator(out, policy=policy.SMTP).flatten(message)
    # The subject is encoded apart: Python 3.11's folder drops the space between two encoded
    # words when it folds a long Vietnamese subject ("kết thúcĐợt"); the `Header` encoder
    # keeps every space inside the words.
    charset = "us-ascii" if subject.isascii() else "utf-8"
    folded = Header(subject, charset, header_name="Subject").encode(linesep="\r\n")
    data = f"Subject: {folded}\r\n".encode("ascii") + out.getvalue()
    return Shared(sender, subject, text, html, language, data)


@dataclass(frozen=True)
class Outgoing:
    """One recipient's e-mail: its own `To`, `Message-ID` and `Date` before the shared bytes."""

    shared: Shared
    to: str
    notification_id: str
    domain: str
    sent_at: datetime

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.shared.sender)[1]

    @property
    def plain(self) -> bool:
        """Whether the addresses go on the wire as they are (else `message()` is sent)."""
        return bool(_PLAIN_ADDRESS.fullmatch(self.to) and self.domain.isascii()
                    and _PLAIN_ADDRESS.fullmatch(self.envelope_sender))

    def data(self) -> bytes:
        own = (f"To: {self.to}\r\nMessage-ID: {message_id(self.notification_id, self.domain)}"
               f"\r\nDate: {format_datetime(self.sent_at)}\r\n")
        return own.encode("ascii") + self.shared.data

    def message(self) -> EmailMessage:
        """The same e-mail as an `EmailMessage`: for a relay without 8BITMIME or an address
        that must be encoded."""
        s = self.shared
        return build_message(sender=s.sender, to=self.to, subject=s.subject, text=s.text,
                             html=s.html, notification_id=self.notification_id,
                             domain=self.domain, language=s.language, sent_at=self.sent_at)

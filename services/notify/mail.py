"""E-mail messages: subject, text and HTML parts rendered with Jinja2, in Vietnamese or English.

Each event kind has one template per language under `templates/<language>/`:
`<template>.subject.txt`, `<template>.txt` and `<template>.html` (HTML autoescaped). Filters
format Vietnamese dates (`vn_date`: dd/mm/yyyy) and amounts (`vnd`: `120.000.000 ₫`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
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

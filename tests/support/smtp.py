"""A real SMTP server for tests (aiosmtpd), keeping every message it accepted."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support.ports import free_port


class _Collect:
    def __init__(self, inbox: list[EmailMessage]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.inbox.append(message)
        return "250 Message accepted for delivery"


class SmtpServer:
    """`with SmtpServer() as smtp:` — listening on `smtp.port`; `smtp.messages` in order."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self._controller = Controller(_Collect(self.messages), hostname="127.0.0.1",
                                      port=self.port)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


def closed_port() -> int:
    """A port nothing listens on: an SMTP relay that is down (below the ephemeral range, so
    a client connecting to it cannot end up connected to itself)."""
    return free_port()

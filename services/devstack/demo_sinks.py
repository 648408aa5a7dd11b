"""Where the local stack's notifications land: an SMTP server keeping every message notify
relays, and an HTTP receiver that checks each webhook's Standard Webhooks signature with the
subscription's secret, as an integrator's endpoint would. Both run in threads of `thidua up`
on loopback ports, for the demo to count what arrived.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import uvicorn
from aiosmtpd.controller import Controller

from services.devstack.processes import free_port
from services.notify.signing import VerificationFailed, verify


class _Keep:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)
        return "250 Message accepted for delivery"


@dataclass
class MailSink:
    """`with MailSink() as mail:` — an SMTP server on `mail.port` keeping `mail.messages`."""

    port: int = field(default_factory=free_port)
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> MailSink:
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


@dataclass
class WebhookSink:
    """An endpoint for one subscription: answers 200 to a message whose signature verifies
    with `secret` (set once the subscription is made), 401 to anything else. `verified` keeps
    the webhook ids accepted, in order; `refused` counts the others."""

    port: int = field(default_factory=free_port)
    secret: str | None = None
    verified: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/thidua"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        status = 401
        try:
            if self.secret is not None:
                verify(self.secret, body, headers)
                status = 200
        except VerificationFailed:
            pass
        with self.lock:
            if status == 200:
                self.verified.append(headers.get("webhook-id", ""))
                self.event_types.append(_event_type(body))
            else:
                self.refused += 1
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"bad"})

    def __enter__(self) -> WebhookSink:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=asyncio.run, args=(self._server.serve(),),
                                        name="webhook-sink", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


def _event_type(body: bytes) -> str:
    import json

    try:
        return str(json.loads(body).get("type", ""))
    except ValueError:
        return ""

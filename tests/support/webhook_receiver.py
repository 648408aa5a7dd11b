"""A real local HTTP receiver for webhooks: a tiny ASGI app under uvicorn, in-process, on a free
port. It records what arrives and answers with the status it is told to."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import uvicorn


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int = 0
    status: int = 200
    received: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.received.append(Received(
            scope["path"], {k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class running_receiver:
    """`async with running_receiver() as receiver:` serves until the block ends."""

    async def __aenter__(self) -> Receiver:
        self.receiver = Receiver(port=_free_port())
        config = uvicorn.Config(self.receiver, host="127.0.0.1", port=self.receiver.port,
                                log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        return self.receiver

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await self.task

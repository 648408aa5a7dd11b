"""A real local HTTP receiver for webhooks: a tiny ASGI app under uvicorn, in-process, on a free
port. It records what arrives and answers with the status it is told to."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.support.asgi_server import serving


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


class running_receiver:
    """`async with running_receiver() as receiver:` serves until the block ends."""

    async def __aenter__(self) -> Receiver:
        self.receiver = Receiver()
        self._serving = serving(self.receiver)
        self.receiver.port = await self._serving.__aenter__()
        return self.receiver

    async def __aexit__(self, *exc) -> None:
        await self._serving.__aexit__(*exc)

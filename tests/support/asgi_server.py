"""An ASGI app served by uvicorn in this process, for code that must reach it over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn


@asynccontextmanager
async def serving(app, startup_s: float = 60.0) -> AsyncIterator[int]:
    """Serve `app` on 127.0.0.1 until the block ends; yields its port once it listens.

    The socket is bound here and handed to uvicorn, so no other socket can take the port
    between a pick and the server's bind. A request still open at the end (a client cut off
    mid-request) delays the shutdown by a few seconds, not for ever."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=5))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + startup_s
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"the server on port {port} stopped before it started")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the server on port {port} did not start in {startup_s} s")
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()

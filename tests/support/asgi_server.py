"""An ASGI app served by uvicorn in this process on a free port, for code that must reach it
over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from tests.support.ports import free_port


@asynccontextmanager
async def serving(app, port: int | None = None, startup_s: float = 60.0) -> AsyncIterator[int]:
    """Serve `app` on 127.0.0.1 until the block ends; yields the port once it listens.

    A server that cannot start (its port taken meanwhile) ends its task: that is raised here
    rather than waited on for ever."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        deadline = asyncio.get_running_loop().time() + startup_s
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it (uvicorn exits on a failed bind)
                raise RuntimeError(f"the server on port {port} stopped before it started")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the server on port {port} did not start in {startup_s} s")
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)

"""Running a command: its work in one transaction with the answer kept under the caller's
`Idempotency-Key` (`org_repository.run_command`), and the response — first or replayed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import Request, Response
from pydantic import BaseModel

from services.runtime import idempotency
from services.runtime.access import Scope

from .org_repository import run_command


async def run(request: Request, scope: Scope, route: str, command: BaseModel | None,
              key: str | None, status_code: int,
              work: Callable[[asyncpg.Connection], Awaitable[bytes]]) -> Response:
    fingerprint = idempotency.fingerprint("POST", route, command or _Empty(),
                                          caller=scope.caller.subject)
    body, kept = await run_command(request.app.state.runtime.pool, key, fingerprint,
                                   status_code, work)
    if kept is not None:
        return idempotency.replay(kept, fingerprint)
    return Response(body, status_code=status_code, media_type="application/json")


def to_json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


class _Empty(BaseModel):
    pass

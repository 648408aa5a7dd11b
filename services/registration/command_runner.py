"""Running a command: its work in one transaction with the answer kept under the caller's
`Idempotency-Key` (`org_repository.run_command`), and the response — first or replayed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import Request, Response
from pydantic import BaseModel, Field

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


class Recorded(BaseModel):
    """What a participation command recorded: its id and the events it emitted."""

    id: str = Field(description="The registration's or pledge's id.")
    event_ids: list[str] = Field(description="Ids of the events emitted (one per signing unit "
                                             "for a pledge).")
    correlation_id: str


def recorded(item_id: str, events: list) -> bytes:
    return to_json(Recorded(id=item_id, event_ids=[e.id for e in events],
                            correlation_id=events[0].correlationid))


def to_json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


class _Empty(BaseModel):
    pass

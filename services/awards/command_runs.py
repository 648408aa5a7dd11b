"""Running an HTTP command in one transaction with the answer kept under its Idempotency-Key
(`services/runtime/idempotency.py`): a repeat with the same key replays the first answer, a
refused command keeps no key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import Response
from pydantic import BaseModel

from services.runtime import idempotency
from services.runtime.domain_errors import DomainError
from services.runtime.idempotency import RETENTION, KeptAnswer

_KEPT = """SELECT fingerprint, status_code, response FROM idempotency_keys
           WHERE idempotency_key = $1 AND expires_at > now()"""
_CLAIM = """
    INSERT INTO idempotency_keys (idempotency_key, fingerprint, status_code, response, expires_at)
    VALUES ($1, $2, $3, $4, now() + $5::interval)
    ON CONFLICT (idempotency_key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, status_code = EXCLUDED.status_code,
            response = EXCLUDED.response, created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at <= now()
    RETURNING 1"""


class _KeyTaken(Exception):
    """A concurrent request claimed the key first: look again for its answer."""


def _kept(key: str, row: asyncpg.Record) -> KeptAnswer:
    return KeptAnswer(key, row["fingerprint"], row["status_code"], row["response"])


async def run(pool: asyncpg.Pool, key: str | None, route: str, command: BaseModel | None,
              caller: str, status_code: int,
              work: Callable[[asyncpg.Connection], Awaitable[BaseModel]]) -> Response:
    """`work` changes state and gives the answer, in the transaction that keeps the key."""
    fingerprint = idempotency.fingerprint(
        "POST", route, command if command is not None else _Empty(), caller=caller)
    async with pool.acquire() as conn:
        for _ in range(3):
            if key is not None and (row := await conn.fetchrow(_KEPT, key)):
                return idempotency.replay(_kept(key, row), fingerprint)
            try:
                async with conn.transaction():
                    answer = await work(conn)
                    body = answer.__pydantic_serializer__.to_json(answer)
                    if key is not None and await conn.fetchval(
                            _CLAIM, key, fingerprint, status_code, body, RETENTION) is None:
                        raise _KeyTaken
                return Response(body, status_code=status_code, media_type="application/json")
            except _KeyTaken:
                continue
            except DomainError:
                if key is not None and (row := await conn.fetchrow(_KEPT, key)):
                    return idempotency.replay(_kept(key, row), fingerprint)
                raise
    raise RuntimeError(f"idempotency key {key!r} neither claimed nor found")


class _Empty(BaseModel):
    pass

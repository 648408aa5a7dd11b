"""Running an HTTP command once per `Idempotency-Key` (`idempotency.py` holds the key, the
fingerprint and the replay).

`run` does the command's `work` in one transaction on the service's pool and keeps the answer
in that transaction in the service's own `idempotency_keys` table (each service's migrations
create it in its schema; the pool's search path picks it). A repeat with the same key replays
the kept status and body byte for byte; with another fingerprint it is refused with 422
`idempotency_key_reused`. A refused command keeps no key. If a concurrent request with the same
key commits first, this one's transaction is undone and that answer is replayed::

    fingerprint = idempotency.fingerprint("POST", route, command, caller=scope.caller.subject)
    return await command_runs.run(pool, idempotency_key, fingerprint, 201, work)

`work(conn)` writes and returns the answer: the body's bytes or a pydantic model (serialized
as JSON). `run_once` is the same without the response, for a command that must know whether
its answer was replayed (e.g. to start a job only the first time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import Response
from pydantic import BaseModel

from . import idempotency
from .domain_errors import DomainError
from .idempotency import RETENTION, KeptAnswer

Work = Callable[[asyncpg.Connection], Awaitable[bytes | BaseModel]]

_KEPT_ANSWER = """SELECT fingerprint, status_code, response FROM idempotency_keys
                  WHERE idempotency_key = $1 AND expires_at > now()"""
_CLAIM_KEY = """
    INSERT INTO idempotency_keys (idempotency_key, fingerprint, status_code, response, expires_at)
    VALUES ($1, $2, $3, $4, now() + $5::interval)
    ON CONFLICT (idempotency_key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, status_code = EXCLUDED.status_code,
            response = EXCLUDED.response, created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at <= now()
    RETURNING 1"""
_ATTEMPTS = 3


class _KeyTaken(Exception):
    """Another request committed the same key first: undo this one and replay that answer."""


async def kept_answer(conn: asyncpg.Connection | asyncpg.Pool, key: str) -> KeptAnswer | None:
    """The unexpired answer kept under `key`, if any."""
    row = await conn.fetchrow(_KEPT_ANSWER, key)
    return None if row is None else KeptAnswer(key, row["fingerprint"], row["status_code"],
                                               row["response"])


async def run_once(pool: asyncpg.Pool, key: str | None, fingerprint: str, status_code: int,
                   work: Work) -> tuple[bytes, KeptAnswer | None]:
    """Run `work` in one transaction with its answer kept under `key` (none kept without a
    key). Returns (the answer's body, None); or (b"", the answer already kept under the key),
    without running `work` — `idempotency.replay` turns it into the response."""
    async with pool.acquire() as conn:
        for _ in range(_ATTEMPTS):
            if key is not None and (kept := await kept_answer(conn, key)):
                return b"", kept
            try:
                async with conn.transaction():
                    answer = await work(conn)
                    body = (answer.__pydantic_serializer__.to_json(answer)
                            if isinstance(answer, BaseModel) else answer)
                    if key is not None and await conn.fetchval(
                            _CLAIM_KEY, key, fingerprint, status_code, body, RETENTION) is None:
                        raise _KeyTaken
                return body, None
            except _KeyTaken:
                continue
            except DomainError:
                # A concurrent request with the same key may have committed meanwhile (then
                # this one was refused as a repeat): answer as it did.
                if key is not None and (kept := await kept_answer(conn, key)):
                    return b"", kept
                raise
    raise RuntimeError(f"idempotency key {key!r} neither claimed nor found")


async def run(pool: asyncpg.Pool, key: str | None, fingerprint: str, status_code: int,
              work: Work) -> Response:
    """`run_once`, answered: the first answer with `status_code`, or the kept one replayed
    (refused with 422 `idempotency_key_reused` if its fingerprint differs)."""
    body, kept = await run_once(pool, key, fingerprint, status_code, work)
    if kept is not None:
        return idempotency.replay(kept, fingerprint)
    return Response(body, status_code=status_code, media_type="application/json")

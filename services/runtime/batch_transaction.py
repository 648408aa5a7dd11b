"""The transaction a consumer applies a batch in, with the consumer's PostgreSQL settings.

A setting is given to the batch's transaction alone (`SET LOCAL`), in the round trip of its
`BEGIN`: a separate `SET` would cost a round trip per batch, and a session-wide one would
reach the HTTP requests sharing the pool. Without settings it is asyncpg's own transaction.

The one setting a consumer takes today is `plan_cache_mode`: a consumer sends the same few
statements with new arrays batch after batch, and a generic plan, made once per connection,
saves planning each one again (scoring's two large statements planned in 2 to 5 ms a batch).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import get_args

import asyncpg
import structlog

from .settings import PlanCacheMode

log = structlog.get_logger()

PLAN_CACHE_MODES = tuple(mode for mode in get_args(PlanCacheMode) if mode)


def begin_statement(plan_cache_mode: str) -> str | None:
    """The `BEGIN` that carries the settings; None when there are none (asyncpg's own)."""
    if not plan_cache_mode:
        return None
    if plan_cache_mode not in PLAN_CACHE_MODES:  # the settings validate it; this is SQL text
        raise ValueError(f"plan_cache_mode must be one of {PLAN_CACHE_MODES}")
    return f"BEGIN; SET LOCAL plan_cache_mode = {plan_cache_mode}"


@asynccontextmanager
async def batch_transaction(conn: asyncpg.Connection, begin: str | None) -> AsyncIterator[None]:
    """Commit when the block ends, roll back when it raises."""
    if begin is None:
        async with conn.transaction():
            yield
        return
    await conn.execute(begin)
    try:
        yield
    except BaseException:
        await _roll_back(conn)
        raise
    await conn.execute("COMMIT")


async def _roll_back(conn: asyncpg.Connection) -> None:
    # A connection broken mid-statement cannot take the ROLLBACK: the pool closes it on
    # release, which ends the transaction on the server. The block's own error is the one
    # that matters, so this one is only logged.
    if conn.is_closed():
        return
    try:
        await conn.execute("ROLLBACK")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        log.warning("batch_rollback_failed", error=repr(exc))

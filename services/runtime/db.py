"""PostgreSQL access: one pool per service, pinned to the service's own schema."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

from . import migrations, outbox_wake

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# A database that does not accept a connection within this is down: requests answer 503 at
# once rather than waiting asyncpg's default 60 s.
CONNECT_TIMEOUT_S = 5.0


def checked_schema(schema: str) -> str:
    # Schema names end up in DDL, where they cannot be bind parameters.
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}: use lower-case letters, digits and _")
    return schema


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (and public for extensions)."""
    schema = checked_schema(schema)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    finally:
        await admin.close()
    outbox_wake.waker(schema).use_database(dsn)
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=CONNECT_TIMEOUT_S,
        reset=outbox_wake.after_release(schema),
        server_settings={"search_path": schema, "application_name": f"thidua-{schema}"},
    )


# The pool's `reset` (`outbox_wake.after_release`) replaces asyncpg's default
# (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`), a round trip on every release,
# a sixth of a command's; it only wakes the relay when the released connection staged outbox
# rows. An open transaction is still rolled back by asyncpg. So pooled code must not leave
# session state behind: use `SET LOCAL` and transaction-level advisory locks, or undo them
# before release (as the migrations' lock does).


async def open_schema(
    dsn: str,
    schema: str,
    service: tuple[str, Path] | None = None,
    *,
    min_size: int = 1,
    max_size: int = 10,
) -> asyncpg.Pool:
    """A pool on `schema` with the runtime's tables (outbox, inbox) and the service's migrated."""
    pool = await create_pool(dsn, schema, min_size=min_size, max_size=max_size)
    found = migrations.discover("runtime", RUNTIME_MIGRATIONS)
    if service is not None:
        found += migrations.discover(*service)
    await migrations.migrate(pool, schema, found)
    return pool

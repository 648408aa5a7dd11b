"""Forward-only SQL migrations, one schema per service.

Files are `NNNN_<intent>.sql`, applied in order, each in its own transaction, and recorded in
`schema_migrations` with a checksum: an applied file that later changes is an error, because
forward-only means a fix is a new file. An advisory lock lets many replicas start at once.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger()
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationChanged(RuntimeError):
    """An already-applied migration file no longer matches what was applied."""


@dataclass(frozen=True)
class Migration:
    version: str  # "<source>/<NNNN>", so runtime and service files never collide
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(source: str, directory: Path) -> list[Migration]:
    found = [
        Migration(f"{source}/{m.group(1)}", path)
        for path in sorted(directory.glob("*.sql"))
        if (m := _FILE.match(path.name))
    ]
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        duplicated = sorted({v for v in versions if versions.count(v) > 1})
        raise ValueError(f"two migration files share a number in {directory}: {duplicated}")
    return found


async def migrate(pool: asyncpg.Pool, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return the versions applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        lock_key = zlib.crc32(f"thidua-migrate-{schema}".encode())
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version text PRIMARY KEY, checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = dict(await conn.fetch("SELECT version, checksum FROM schema_migrations"))
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationChanged(
                            f"migration {migration.version} ({migration.path.name}) changed after "
                            "it was applied; add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                        migration.version,
                        migration.checksum,
                    )
                applied_now.append(migration.version)
                log.info("migration_applied", schema=schema, version=migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied_now

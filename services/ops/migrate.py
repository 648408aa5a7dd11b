"""`thidua migrate <service>`: bring the service's schema up to date and exit.

What a Kubernetes Job runs before a rollout, so new pods start on a migrated schema. Services
also migrate at start (under the same advisory lock), so running it twice, or beside a starting
service, is harmless.
"""

from __future__ import annotations

import importlib

import structlog

from services.registry import ServiceEntry
from services.runtime.db import open_schema

log = structlog.get_logger()


async def migrate(entry: ServiceEntry) -> list[str]:
    """Apply what is missing; return every migration the schema now has."""
    definition = importlib.import_module(entry.app_module).definition()
    settings = definition.settings
    pool = await open_schema(settings.database_url, definition.schema,
                             (definition.name, definition.migrations_dir), min_size=1, max_size=1)
    try:
        applied = [r["version"] for r in await pool.fetch(
            "SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        await pool.close()
    log.info("schema_migrated", schema=definition.schema, versions=len(applied))
    return applied

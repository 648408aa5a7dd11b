"""Members' contact points and preferences: private to notify, never emitted. Set by the
member over the API, or imported by officials for their units."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time

import asyncpg

from services.runtime.directory.queries import MAX_DEPTH

from .columns import columns
from .directory_sql import holds_on


async def contacts_of(pool: asyncpg.Pool, member_id: str) -> dict | None:
    row = await pool.fetchrow(
        "SELECT email, phone, updated_at FROM member_contacts WHERE member_id = $1", member_id)
    return dict(row) if row else None


async def put_contacts(pool: asyncpg.Pool, member_id: str, email: str | None,
                       phone: str | None, by: str) -> dict:
    row = await pool.fetchrow(
        """INSERT INTO member_contacts (member_id, email, phone, updated_by)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (member_id) DO UPDATE SET email = excluded.email, phone = excluded.phone,
               updated_at = now(), updated_by = excluded.updated_by
           RETURNING email, phone, updated_at""",
        member_id, email, phone, by,
    )
    return dict(row)


async def preferences_of(pool: asyncpg.Pool, member_id: str) -> dict | None:
    row = await pool.fetchrow(
        """SELECT language, email_enabled, in_app_enabled, quiet_start, quiet_end,
                  email_digest, updated_at
           FROM member_preferences WHERE member_id = $1""", member_id)
    return dict(row) if row else None


async def put_preferences(pool: asyncpg.Pool, member_id: str, language: str,
                          email_enabled: bool, in_app_enabled: bool, by: str, *,
                          quiet: tuple[time, time] | None = None,
                          email_digest: str = "off") -> dict:
    row = await pool.fetchrow(
        """INSERT INTO member_preferences (member_id, language, email_enabled, in_app_enabled,
               updated_by, quiet_start, quiet_end, email_digest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (member_id) DO UPDATE SET language = excluded.language,
               email_enabled = excluded.email_enabled, in_app_enabled = excluded.in_app_enabled,
               quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,
               email_digest = excluded.email_digest,
               updated_at = now(), updated_by = excluded.updated_by
           RETURNING language, email_enabled, in_app_enabled, quiet_start, quiet_end,
                     email_digest, updated_at""",
        member_id, language, email_enabled, in_app_enabled, by, *(quiet or (None, None)),
        email_digest,
    )
    return dict(row)


# Officials' imports of contact points.

async def members_inside(conn: asyncpg.Connection, unit_id: str, member_ids: Sequence[str],
                         on: date) -> set[str]:
    """Those of the members whose unit on the date is the unit or one below it."""
    rows = await conn.fetch(
        f"""WITH RECURSIVE down (unit_id, depth) AS (
                SELECT $1::text, 0
                UNION ALL
                SELECT c.unit_id, down.depth + 1
                FROM down JOIN directory_units c
                     ON c.parent_id = down.unit_id AND {holds_on("c.valid", "$3::date")}
                WHERE down.depth < {MAX_DEPTH})
            SELECT m.member_id FROM directory_members m
            WHERE m.member_id = ANY($2::text[]) AND m.valid @> $3::date AND m.status = 'active'
              AND m.unit_id IN (SELECT unit_id FROM down)""",
        unit_id, list(member_ids), on)
    return {r[0] for r in rows}


async def import_contacts(conn: asyncpg.Connection,
                          contacts: Sequence[tuple[str, str | None, str | None]],
                          by: str) -> int:
    """Set each member's given contact points (None leaves one as kept) in one statement;
    returns how many rows changed."""
    if not contacts:
        return 0
    rows = await conn.fetch(
        """INSERT INTO member_contacts (member_id, email, phone, updated_by)
           SELECT m, e, p, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS x (m, e, p)
           ON CONFLICT (member_id) DO UPDATE SET
               email = coalesce(excluded.email, member_contacts.email),
               phone = coalesce(excluded.phone, member_contacts.phone),
               updated_at = now(), updated_by = excluded.updated_by
           WHERE (member_contacts.email, member_contacts.phone) IS DISTINCT FROM
                 (coalesce(excluded.email, member_contacts.email),
                  coalesce(excluded.phone, member_contacts.phone))
           RETURNING 1""",
        *columns(contacts, 3), by)
    return len(rows)

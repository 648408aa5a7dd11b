"""What later events need, kept from earlier ones and read from the directory: campaigns'
organizers and names, initiatives' titles and authors, units' names and parents."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

import asyncpg

from .columns import columns
from .triggers import Campaign, Names


class FactsStore:
    """On the consumer batch's transaction."""

    _conn: asyncpg.Connection

    async def record_campaigns(self, launched: Sequence[tuple]) -> None:
        """(campaign id, organizer, theme, year, {phase id: name}, recorded at); a later
        record of one campaign replaces the earlier."""
        if not launched:
            return
        await self._conn.execute(
            """INSERT INTO campaigns (campaign_id, organizer_unit_id, theme, year, phases,
                   recorded_at)
               SELECT c, o, t, y, p::jsonb, r FROM unnest($1::text[], $2::text[], $3::text[],
                   $4::int[], $5::text[], $6::timestamptz[]) AS x (c, o, t, y, p, r)
               ON CONFLICT (campaign_id) DO UPDATE SET
                   organizer_unit_id = excluded.organizer_unit_id, theme = excluded.theme,
                   year = excluded.year, phases = excluded.phases,
                   recorded_at = excluded.recorded_at
               WHERE campaigns.recorded_at <= excluded.recorded_at""",
            *columns([(c, o, t, y, json.dumps(p), r) for c, o, t, y, p, r in launched], 6))

    async def record_initiatives(self, submitted: Sequence[tuple]) -> None:
        """(initiative id, unit, title, author ids, submitted at); the first record stays."""
        if not submitted:
            return
        await self._conn.execute(
            """INSERT INTO initiatives (initiative_id, unit_id, title, author_ids, submitted_at)
               SELECT i, u, t, string_to_array(a, '|'), s
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                           $5::timestamptz[]) AS x (i, u, t, a, s)
               ON CONFLICT (initiative_id) DO NOTHING""",
            *columns([(i, u, t, "|".join(a), at) for i, u, t, a, at in submitted], 5))

    async def names(self, unit_ids: Sequence[str], campaign_ids: Sequence[str],
                    initiative_ids: Sequence[str], cluster_ids: Sequence[str] = ()) -> Names:
        """Units' latest names, campaigns, initiatives and clusters as kept, a query each."""
        units = await self._conn.fetch(
            """SELECT DISTINCT ON (unit_id) unit_id, name FROM directory_units
               WHERE unit_id = ANY($1::text[]) ORDER BY unit_id, effective_from DESC""",
            list(set(unit_ids)))
        campaigns = await self._conn.fetch(
            """SELECT campaign_id, organizer_unit_id, theme, phases FROM campaigns
               WHERE campaign_id = ANY($1::text[])""", list(set(campaign_ids)))
        initiatives = await self._conn.fetch(
            """SELECT initiative_id, title, author_ids FROM initiatives
               WHERE initiative_id = ANY($1::text[])""", list(set(initiative_ids)))
        clusters = await self._conn.fetch(
            """SELECT cluster_id, name, organizer_unit_id FROM directory_clusters
               WHERE cluster_id = ANY($1::text[])""", list(set(cluster_ids)))
        return Names(
            clusters={r["cluster_id"]: (r["name"], r["organizer_unit_id"]) for r in clusters},
            units={r["unit_id"]: r["name"] for r in units},
            campaigns={r["campaign_id"]: Campaign(r["organizer_unit_id"], r["theme"],
                                                  json.loads(r["phases"]))
                       for r in campaigns},
            initiatives={r["initiative_id"]: (r["title"], tuple(r["author_ids"]))
                         for r in initiatives})

    async def parents(self, units_on: Sequence[tuple[str, date]]) -> dict[tuple[str, date], str]:
        """Each (unit, date)'s parent on that date, where it has one."""
        rows = await self._conn.fetch(
            """SELECT x.unit_id, x.on_day, u.parent_id
               FROM unnest($1::text[], $2::date[]) AS x (unit_id, on_day)
               JOIN directory_units u ON u.unit_id = x.unit_id AND u.valid @> x.on_day
               WHERE u.parent_id IS NOT NULL""", *columns(list(set(units_on)), 2))
        return {(r["unit_id"], r["on_day"]): r["parent_id"] for r in rows}

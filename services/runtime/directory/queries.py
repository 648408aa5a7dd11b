"""Reading the directory: a unit or member on a date, the tree above and below a unit, clusters.

Every question names a date: the tree changes parents on effective dates (the 2025 end of the
district federations, the ward unions from October), and what was true before a date stays
readable. A unit dissolved on a date still has its state there, with `status = "dissolved"`:
callers decide what it may still do (no new writes in its scope; its history readable).

Answers of `unit`, `member` and `ancestors` (hence `inside`) are cached in the process for
`cache_seconds` (`DIRECTORY_CACHE_SECONDS`, 5 s; 0 turns the cache off): API processes consume
no events, so nothing else bounds how stale their answers are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date

import asyncpg

from .cache import MISSING, TtlCache

# Deeper than any union tree (confederation → city → district or sector → ward → grassroots);
# a parent link that loops ends here instead of running forever.
MAX_DEPTH = 32

UNIT_ON_DATE = """
    SELECT unit_id, name, kind, parent_id, district_id, sector, member_count,
           direct_worker_count, status, effective_from
    FROM directory_units WHERE unit_id = $1 AND valid @> $2::date"""

MEMBER_COLUMNS = """member_id, unit_id, full_name, gender, direct_worker, union_officer,
                    job_title, status, effective_from"""
MEMBER_ON_DATE = f"""
    SELECT {MEMBER_COLUMNS} FROM directory_members WHERE member_id = $1 AND valid @> $2::date"""
MEMBERS_OF_UNIT = f"""
    SELECT {MEMBER_COLUMNS} FROM directory_members WHERE unit_id = $1 AND valid @> $2::date
    ORDER BY member_id"""

# The unit, its parent, ... up to the root, each as it was on the date.
ANCESTORS = f"""
    WITH RECURSIVE up (unit_id, parent_id, depth) AS (
        SELECT unit_id, parent_id, 0 FROM directory_units
        WHERE unit_id = $1 AND valid @> $2::date
        UNION ALL
        SELECT u.unit_id, u.parent_id, up.depth + 1
        FROM up JOIN directory_units AS u ON u.unit_id = up.parent_id AND u.valid @> $2::date
        WHERE up.depth < {MAX_DEPTH}
    )
    SELECT unit_id FROM up ORDER BY depth"""

# The unit and every unit below it on the date, walking down the (parent_id, valid) index.
SUBTREE = f"""
    WITH RECURSIVE down (unit_id, depth) AS (
        SELECT unit_id, 0 FROM directory_units WHERE unit_id = $1 AND valid @> $2::date
        UNION ALL
        SELECT c.unit_id, down.depth + 1
        FROM down JOIN directory_units AS c ON c.parent_id = down.unit_id AND c.valid @> $2::date
        WHERE down.depth < {MAX_DEPTH}
    )
    SELECT unit_id FROM down GROUP BY unit_id ORDER BY min(depth), unit_id"""


def _state_on(unit_id: str, day: str) -> str:
    """The state of `unit_id` holding on `day`: its latest from that day or before, by one
    descent of the primary key; the caller still checks `valid @> day`.

    For the many walks of `UNITS_INSIDE`: through the GiST index, the generic plan asyncpg's
    prepared statement settles on took 40-50 ms for 500 units (a bitmap scan of `= ANY($1)`,
    then ~15 µs a probe), this form 8 ms. A single walk (`ANCESTORS`) is faster the plain way.
    """
    return f"""(SELECT u.unit_id, u.parent_id, u.valid FROM directory_units AS u
                WHERE u.unit_id = {unit_id} AND u.effective_from <= {day}
                ORDER BY u.effective_from DESC LIMIT 1)"""


# Which of the units ($1) have the ancestor ($2) on their way up on the date ($3): every walk
# at once, each stopping when it reaches the ancestor.
UNITS_INSIDE = f"""
    WITH RECURSIVE up (origin, unit_id, parent_id, depth) AS (
        SELECT listed.unit_id, s.unit_id, s.parent_id, 0
        FROM unnest($1::text[]) AS listed (unit_id)
             CROSS JOIN LATERAL {_state_on("listed.unit_id", "$3::date")} AS s
        WHERE s.valid @> $3::date
        UNION ALL
        SELECT up.origin, s.unit_id, s.parent_id, up.depth + 1
        FROM up CROSS JOIN LATERAL {_state_on("up.parent_id", "$3::date")} AS s
        WHERE up.unit_id <> $2 AND s.valid @> $3::date AND up.depth < {MAX_DEPTH}
    )
    SELECT DISTINCT origin FROM up WHERE unit_id = $2"""

CLUSTERS_OF = """
    SELECT cluster_id, name, organizer_unit_id, member_unit_ids, year, effective_from
    FROM directory_clusters WHERE member_unit_ids @> ARRAY[$1::text] AND year = $2
    ORDER BY cluster_id"""


@dataclass(frozen=True, slots=True)
class UnitOnDate:
    unit_id: str
    name: str
    kind: str
    parent_id: str | None
    district_id: str | None
    sector: str
    member_count: int
    direct_worker_count: int
    status: str  # "active" or "dissolved"
    effective_from: date  # of the state that holds on the date asked about


@dataclass(frozen=True, slots=True)
class MemberOnDate:
    member_id: str
    unit_id: str
    full_name: str
    gender: str
    direct_worker: bool
    union_officer: bool
    job_title: str | None
    status: str  # "active" or "left"
    effective_from: date


@dataclass(frozen=True, slots=True)
class ClusterRow:
    cluster_id: str
    name: str
    organizer_unit_id: str
    member_unit_ids: tuple[str, ...]
    year: int
    effective_from: date


class Directory:
    """The directory of the service's schema, read through `pool`.

    `clock` (seconds, monotonic) is the cache's, for tests.
    """

    def __init__(
        self, pool: asyncpg.Pool, *, cache_seconds: float = 5.0, cache_size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._cache = TtlCache(cache_seconds, cache_size, clock)

    async def unit(self, unit_id: str, on: date) -> UnitOnDate | None:
        """The unit's state on the date; None if it has none (not yet registered)."""
        return await self._cached(("unit", unit_id, on), self._unit, unit_id, on)

    async def member(self, member_id: str, on: date) -> MemberOnDate | None:
        """The member's state on the date (their unit then); None if they have none."""
        return await self._cached(("member", member_id, on), self._member, member_id, on)

    async def members(self, unit_id: str, on: date) -> list[MemberOnDate]:
        """The members whose state on the date places them in the unit, by id."""
        rows = await self._pool.fetch(MEMBERS_OF_UNIT, unit_id, on)
        return [MemberOnDate(*row.values()) for row in rows]

    async def ancestors(self, unit_id: str, on: date) -> tuple[str, ...] | None:
        """(unit_id, its parent, ..., the root) on the date; None if the unit has no state then.

        The chain ends early at a parent with no state on the date.
        """
        return await self._cached(("ancestors", unit_id, on), self._ancestors, unit_id, on)

    async def inside(self, unit_id: str, ancestor_id: str, on: date) -> bool:
        """Whether `unit_id` is `ancestor_id` or below it on the date (False if it has no state
        then)."""
        chain = await self.ancestors(unit_id, on)
        return chain is not None and ancestor_id in chain

    async def subtree(self, unit_id: str, on: date) -> list[str]:
        """The unit and all its descendants on the date, level by level (empty if it has no
        state then)."""
        rows = await self._pool.fetch(SUBTREE, unit_id, on)
        return [row[0] for row in rows]

    async def units_inside(
        self, unit_ids: Iterable[str], ancestor_id: str, on: date
    ) -> set[str]:
        """Those of `unit_ids` that are `inside(…, ancestor_id, on)`, in one query."""
        ids = list(dict.fromkeys(unit_ids))
        if not ids:
            return set()
        rows = await self._pool.fetch(UNITS_INSIDE, ids, ancestor_id, on)
        return {row[0] for row in rows}

    async def clusters_of(self, unit_id: str, year: int) -> list[ClusterRow]:
        """The clusters formed for the year that the unit is a member of, by id."""
        rows = await self._pool.fetch(CLUSTERS_OF, unit_id, year)
        return [ClusterRow(r["cluster_id"], r["name"], r["organizer_unit_id"],
                           tuple(r["member_unit_ids"]), r["year"], r["effective_from"])
                for r in rows]

    def forget(self) -> None:
        """Drop every cached answer (the next reads go to the database)."""
        self._cache.clear()

    async def _cached(self, key: Hashable, load, *args):
        found = self._cache.get(key)
        if found is not MISSING:
            return found
        value = await load(*args)
        self._cache.put(key, value)
        return value

    async def _unit(self, unit_id: str, on: date) -> UnitOnDate | None:
        row = await self._pool.fetchrow(UNIT_ON_DATE, unit_id, on)
        return None if row is None else UnitOnDate(*row.values())

    async def _member(self, member_id: str, on: date) -> MemberOnDate | None:
        row = await self._pool.fetchrow(MEMBER_ON_DATE, member_id, on)
        return None if row is None else MemberOnDate(*row.values())

    async def _ancestors(self, unit_id: str, on: date) -> tuple[str, ...] | None:
        rows = await self._pool.fetch(ANCESTORS, unit_id, on)
        return tuple(row[0] for row in rows) or None

"""What the database server does around a benchmark's clock, and what brings it to the state of a
server in service first: its WAL left to recycle, the worker's tables vacuumed and analyzed.
"""

from __future__ import annotations

from collections import Counter

import asyncpg


async def server_activity(conn: asyncpg.Connection, schema: str
                          ) -> tuple[int, Counter[str], int]:
    """Checkpoints so far, (auto)vacuums and analyzes of the worker's tables, and WAL segments
    the server created (filled with zeros, then flushed, while commits wait; counted from
    PostgreSQL 18, 0 before): what may stall a batch from inside the server."""
    checkpoints = await conn.fetchval(
        "SELECT num_timed + num_requested FROM pg_stat_checkpointer")
    vacuums = Counter({r[0]: r[1] for r in await conn.fetch(
        """SELECT relname, autovacuum_count + autoanalyze_count FROM pg_stat_user_tables
           WHERE schemaname = $1""", schema)})
    segments = await conn.fetchval(
        """SELECT coalesce(sum(writes), 0) FROM pg_stat_io
           WHERE object = 'wal' AND context = 'init'""")
    return checkpoints, vacuums, segments


async def recycle_wal(conn: asyncpg.Connection, megabytes: float) -> int:
    """Leave the server that much WAL to recycle, as a server in service has: segments past
    the last checkpoint are renamed for reuse, where a new server must create each one,
    writing 16 MB of zeros while the commit that needs it waits (45 to 99 ms on this
    machine's disk, every ~3 s at 1,000 events/s). Returns the segments made ready, 0 when
    the role may not switch WAL files and checkpoint."""
    size = await conn.fetchval("SELECT setting::bigint FROM pg_settings "
                               "WHERE name = 'wal_segment_size'")
    segments = int(megabytes * 2**20 // size) + 2
    try:
        for _ in range(segments):
            # a record in the segment, so that the switch moves to a new one
            await conn.execute("SELECT pg_logical_emit_message(false, 'thidua.bench', 'wal')")
            await conn.execute("SELECT pg_switch_wal()")
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        return 0
    return segments


async def settle_tables(conn: asyncpg.Connection, schema: str) -> None:
    """Vacuum and analyze the worker's tables, as autovacuum has on a server in service, so that
    the vacuums the history is due do not fall inside the clock."""
    tables = await conn.fetchval(
        """SELECT string_agg(format('%I.%I', schemaname, relname), ', ')
           FROM pg_stat_user_tables WHERE schemaname = $1""", schema)
    await conn.execute(f"VACUUM (ANALYZE) {tables}")

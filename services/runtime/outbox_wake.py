"""Waking a schema's outbox relay once staged rows are committed, without serialising commits.

A `NOTIFY` inside the command's transaction made PostgreSQL take a database-wide lock at commit
and hold it through the commit's WAL flush, so concurrent commands committed one at a time.
Instead, code that stages rows on a pooled connection marks its task (`staged`), and when the
pool takes the connection back (its transaction ended: committed, or rolled back and the wake
is spurious) the schema's `Waker` is asked to wake the relay:
- the relay leading in this process is woken directly (an `asyncio.Event`): no round trip;
- otherwise one `NOTIFY` goes out on the waker's own connection, never more than one at a time:
  requests arriving while it is under way are covered by one more `NOTIFY` after it.
Rows staged on a connection outside a pool still notify inside their transaction (`outbox`).
Whatever a wake misses (a lost connection), the relay's poll interval covers.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable

import asyncpg
import structlog

from .metrics import OUTBOX_WAKEUPS

log = structlog.get_logger()

_CHANNEL_SUFFIX = "_outbox"
# Set by code that staged rows in the current task; a box, so that the pool's release (run in a
# task of its own, with a copy of this context) can empty it for the task.
_STAGED: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "outbox_staged", default=None)


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that wakes a schema's relay."""
    return schema + _CHANNEL_SUFFIX


def staged() -> None:
    """Note that the current task staged outbox rows on a pooled connection."""
    box = _STAGED.get()
    if box is None:
        _STAGED.set([True])
    else:
        box[0] = True


def take_staged() -> bool:
    """Whether the current task staged rows since the last call (and forget it)."""
    box = _STAGED.get()
    if not box or not box[0]:
        return False
    box[0] = False
    return True


class Waker:
    """Wakes one schema's relay for the pools of this process."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._dsn: str | None = None
        self._local: Callable[[], None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._again = False
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def use_database(self, dsn: str) -> None:
        self._dsn = dsn

    def lead_here(self, wake: Callable[[], None]) -> None:
        """The relay leading in this process: how to wake it."""
        self._local = wake

    def stopped_leading(self, wake: Callable[[], None]) -> None:
        if self._local == wake:
            self._local = None

    def wake(self) -> None:
        local = self._local
        if local is not None:
            OUTBOX_WAKEUPS.labels("local").inc()
            local()
            return
        if self._dsn is None:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a connection and task of an earlier loop are no use here
            self._loop, self._task, self._conn = loop, None, None
        self._again = True
        if self._task is None or self._task.done():
            # A fresh context: the notifying task stages nothing and must not inherit a mark.
            self._task = loop.create_task(
                self._notify(), name=f"{self.schema}-outbox-wake", context=contextvars.Context())

    async def _notify(self) -> None:
        while self._again:
            self._again = False
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self._dsn, server_settings={
                        "application_name": f"thidua-{self.schema}-wake"})
                await self._conn.execute("SELECT pg_notify($1, '')", notify_channel(self.schema))
                OUTBOX_WAKEUPS.labels("notify").inc()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The relay's poll finds the rows; the next wake tries a new connection.
                log.warning("outbox_wake_failed", schema=self.schema, error=str(exc))
                await self.close()
                return

    async def close(self) -> None:
        """Let go of the notifying connection (a later wake opens another)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


_WAKERS: dict[str, Waker] = {}


def waker(schema: str) -> Waker:
    found = _WAKERS.get(schema)
    if found is None:
        found = _WAKERS[schema] = Waker(schema)
    return found


def after_release(schema: str) -> Callable[[asyncpg.Connection], object]:
    """A pool's `reset`: wake the relay when the releasing task staged rows."""
    wake = waker(schema)

    async def reset(conn: asyncpg.Connection) -> None:
        if take_staged():
            wake.wake()

    return reset

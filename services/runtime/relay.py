"""The outbox relay: publishes committed outbox rows to Kafka, then deletes them.

One relay per schema is active at a time (a PostgreSQL advisory lock held on its own
connection); other replicas stand by and take over when that connection drops. A row is
deleted only after Kafka acknowledged it, so a relay killed mid-batch publishes the rest again
after restart, with the same event ids; consumers' inboxes absorb the repeats.

The leader works as a pipeline. Its loop (here) runs one statement per step on its
connection: delete the rows Kafka acknowledged and select the next batch (`relay_cursor`,
which also makes sure no row is selected twice while it is in flight). The batch goes to the
pipeline (`relay_pipeline`), whose tasks hand it to the producer and await its acks while the
loop already selects the next one; up to `max_in_flight_batches` batches are under way at
once. Rows are handed over in `seq` order, and the producer keeps one request in flight per
partition, so each partition receives them in that order. When a send fails, nothing more is
handed over: the relay waits for what is in flight, deletes what was acknowledged, and starts
a new session that selects everything still in the outbox.

Health (`relay_health`) is judged from what the relay recently achieved, from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from .metrics import RELAY_ERRORS, RELAY_IS_LEADER, RELAY_PUBLISHED
from .outbox_wake import notify_channel, waker
from .relay_cursor import ReadyRowsCursor, Selected
from .relay_health import RelayProgress, forget_backlog, measure_backlog
from .relay_pipeline import PublishPipeline, SettledBatch
from .settings import ServiceSettings

log = structlog.get_logger()

_RETRY_AFTER_S = 1.0
_STANDBY_POLL_S = 2.0
# After a failure, in-flight sends end on their own (acknowledged, or expired after the
# producer's request timeout); this only guards against waiting forever.
_SETTLE_AFTER_FAILURE_S = 120.0
# On shutdown, acknowledgements still on their way are awaited this long, so the rows they
# cover are deleted rather than published again by the next leader.
_SETTLE_ON_SHUTDOWN_S = 5.0


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    in_flight: int = 0  # rows selected for the producer, not yet acknowledged or failed
    is_leader: bool = False
    last_error: str | None = None
    errors: int = 0
    # As of the leader's last backlog check (0 on a standby).
    backlog_rows: int = 0
    oldest_waiting_s: float = 0.0


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        schema: str,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.2,
        max_commit_wait: float = 5.0,
        max_in_flight_batches: int = 8,
        failing_after_errors: int = 3,
        stalled_after: float = 30.0,
        backlog_check_interval: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_commit_wait = max_commit_wait
        self._max_in_flight = max(1, max_in_flight_batches)
        self._backlog_check_interval = backlog_check_interval
        # Set by NOTIFY (rows committed) and by acknowledgements (rows to delete, room to send).
        self._wakeup = asyncio.Event()
        self._progress = RelayProgress(failing_after_errors, stalled_after)
        self._pipeline: PublishPipeline | None = None
        self.stats = RelayStats()

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, schema: str, producer: AIOKafkaProducer
    ) -> OutboxRelay:
        s = settings
        return cls(
            s.database_url,
            schema,
            producer,
            batch_size=s.relay_batch_size,
            poll_interval=s.relay_poll_interval_ms / 1000,
            max_commit_wait=s.relay_max_commit_wait_ms / 1000,
            max_in_flight_batches=s.relay_max_in_flight_batches,
            failing_after_errors=s.relay_failing_after_errors,
            stalled_after=s.relay_stalled_after_ms / 1000,
            backlog_check_interval=s.relay_backlog_check_interval_ms / 1000,
        )

    def health(self) -> str:
        """"ok", or "failing: <reason>" (see `relay_health`); from memory, no query.

        Failing after `failing_after_errors` failed attempts in a row, or when leading with rows
        waiting longer than `stalled_after` while nothing was published for as long. A standby
        that reaches its database is ok.
        """
        oldest = self._pipeline.oldest_born() if self._pipeline is not None else None
        return self._progress.verdict(self.stats.is_leader, oldest)

    async def run(self) -> None:
        """Lead when possible, stand by otherwise; reconnect after any failure."""
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                RELAY_ERRORS.inc()
                self._progress.attempt_failed(self.stats.last_error)
                log.warning("outbox_relay_error", schema=self._schema, error=self.stats.last_error)
                await asyncio.sleep(_RETRY_AFTER_S)

    def _set_leader(self, leading: bool) -> None:
        self.stats.is_leader = leading
        RELAY_IS_LEADER.set(1 if leading else 0)

    async def _lead(self) -> None:
        conn = await asyncpg.connect(self._dsn, server_settings={"search_path": self._schema})
        try:
            lock = zlib.crc32(f"thidua-relay-{self._schema}".encode())
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):
                self._set_leader(False)
                self._progress.standing_by()
                await asyncio.sleep(_STANDBY_POLL_S)
            self._set_leader(True)
            log.info("outbox_relay_leading", schema=self._schema)
            await conn.add_listener(notify_channel(self._schema), self._on_notify)
            # Commands of this process wake the relay directly, replicas elsewhere by NOTIFY.
            waker(self._schema).lead_here(self._wakeup.set)
            await self._publish_while_leading(conn)
        finally:
            waker(self._schema).stopped_leading(self._wakeup.set)
            self._set_leader(False)
            forget_backlog()
            self.stats.backlog_rows, self.stats.oldest_waiting_s = 0, 0.0
            await _close(conn)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _publish_while_leading(self, conn: asyncpg.Connection) -> None:
        # Fresh per session: whatever a previous session handed over and did not delete is
        # selected again (the next leader would do the same).
        cursor = ReadyRowsCursor(self._max_commit_wait)
        pipeline = self._pipeline = PublishPipeline(
            self._producer, self._max_in_flight, self._on_settled, self._wakeup.set
        )
        pipeline.start()
        try:
            await self._select_and_delete(conn, cursor, pipeline)
        except asyncio.CancelledError:
            await self._wind_down(conn, cursor, pipeline, _SETTLE_ON_SHUTDOWN_S)
            raise
        except BaseException:
            await self._wind_down(conn, cursor, pipeline, _SETTLE_AFTER_FAILURE_S)
            raise

    async def _select_and_delete(
        self, conn: asyncpg.Connection, cursor: ReadyRowsCursor, pipeline: PublishPipeline
    ) -> None:
        """The leader's loop: feed the pipeline with ready rows, delete what it got acknowledged."""
        more = True  # the last select was full: rows may be ready, select again without waiting
        next_backlog_check = 0.0
        while True:
            if pipeline.failure is not None:
                raise pipeline.failure
            room = pipeline.has_room()
            acknowledged = pipeline.take_acknowledged()
            if acknowledged or (room and more):
                limit = self._batch_size if room else 0
                try:
                    selected = await self._delete_and_select(conn, cursor, acknowledged, limit)
                except BaseException:
                    pipeline.give_back(acknowledged)  # for the wind-down to delete
                    raise
                if room:
                    more = len(selected.rows) == self._batch_size
                    if selected.rows:
                        pipeline.submit(selected)
                        self.stats.in_flight += len(selected.rows)
                    elif pipeline.is_empty():
                        self._progress.idle()
            if time.monotonic() >= next_backlog_check:
                backlog = await measure_backlog(conn)
                self._progress.backlog_seen(backlog)
                self.stats.backlog_rows = backlog.rows
                self.stats.oldest_waiting_s = round(backlog.oldest_age_s, 3)
                await cursor.sweep(conn)
                next_backlog_check = time.monotonic() + self._backlog_check_interval
            if more and pipeline.has_room():
                continue
            # Woken by an acknowledgement, a failure, a NOTIFY, or the poll interval.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
            self._wakeup.clear()
            more = True

    async def _delete_and_select(
        self,
        conn: asyncpg.Connection,
        cursor: ReadyRowsCursor,
        acknowledged: list[int],
        limit: int,
    ) -> Selected:
        """One statement: delete what Kafka acknowledged, select up to `limit` ready rows."""
        return await cursor.delete_and_select(conn, acknowledged, limit)

    def _on_settled(self, settled: SettledBatch) -> None:
        self.stats.in_flight -= settled.rows
        for topic, count in settled.per_topic.items():
            RELAY_PUBLISHED.labels(topic).inc(count)
        if settled.acknowledged:
            self.stats.published += settled.acknowledged
            self.stats.batches += 1
            self._progress.published()
        self._wakeup.set()

    async def _wind_down(
        self,
        conn: asyncpg.Connection,
        cursor: ReadyRowsCursor,
        pipeline: PublishPipeline,
        settle_timeout: float,
    ) -> None:
        """Hand nothing more over; wait for the sends in flight; delete what was acknowledged.

        Best effort: if the connection is gone, the rows stay and are published again.
        """
        try:
            await pipeline.close(settle_timeout)
            acknowledged = pipeline.take_acknowledged()
            if acknowledged and not conn.is_closed():
                await cursor.delete_and_select(conn, acknowledged, 0)
        except Exception as exc:
            log.warning("outbox_relay_wind_down_incomplete", schema=self._schema,
                        error=f"{type(exc).__name__}: {exc}")
        finally:
            self._pipeline = None
            self.stats.in_flight = 0


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 5.0)
    except Exception:
        conn.terminate()  # the server drops the session, and the lock with it

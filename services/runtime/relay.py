"""The outbox relay: publishes committed outbox rows to Kafka, then deletes them.

One relay per schema is active at a time (a PostgreSQL advisory lock held on its own
connection); other replicas stand by and take over when that connection drops. A row is
deleted only after Kafka acknowledged it, so a relay killed mid-batch publishes the rest again
after restart, with the same event ids; consumers' inboxes absorb the repeats.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from contracts import CLOUDEVENTS_CONTENT_TYPE

from .outbox import notify_channel

log = structlog.get_logger()

_READY_ROWS = """
    SELECT seq, event_id, topic, partition_key, value, correlation_id
    FROM outbox
    WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
       OR created_at < now() - make_interval(secs => $2)
    ORDER BY seq
    LIMIT $1
"""


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    is_leader: bool = False
    last_error: str | None = None
    errors: int = 0


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
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        # A transaction open longer than this no longer holds back the rows committed after it.
        self._max_commit_wait = max_commit_wait
        self._wakeup = asyncio.Event()
        self.stats = RelayStats()

    async def run(self) -> None:
        """Lead when possible, stand by otherwise; reconnect after any failure."""
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.is_leader = False
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox_relay_error", schema=self._schema, error=self.stats.last_error)
                await asyncio.sleep(1.0)

    async def _lead(self) -> None:
        conn = await asyncpg.connect(self._dsn, server_settings={"search_path": self._schema})
        try:
            lock = zlib.crc32(f"thidua-relay-{self._schema}".encode())
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):
                self.stats.is_leader = False
                await asyncio.sleep(2.0)
            self.stats.is_leader = True
            log.info("outbox_relay_leading", schema=self._schema)
            await conn.add_listener(notify_channel(self._schema), self._on_notify)
            while True:
                published = await self.publish_ready(conn)
                if published < self._batch_size:
                    await self._wait_for_work()
        finally:
            self.stats.is_leader = False
            await conn.close()

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _wait_for_work(self) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
        except TimeoutError:
            pass
        self._wakeup.clear()

    async def _delete_published(self, conn: asyncpg.Connection, seqs: list[int]) -> None:
        await conn.execute("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", seqs)

    async def publish_ready(self, conn: asyncpg.Connection) -> int:
        """Publish one batch of ready rows; return how many were published."""
        rows = await conn.fetch(_READY_ROWS, self._batch_size, self._max_commit_wait)
        if not rows:
            return 0
        headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]
        sends = [
            await self._producer.send(
                row["topic"], row["value"], key=row["partition_key"], headers=headers
            )
            for row in rows
        ]
        await asyncio.gather(*sends)
        await self._delete_published(conn, [r["seq"] for r in rows])
        self.stats.published += len(rows)
        self.stats.batches += 1
        log.debug("outbox_batch_published", schema=self._schema, count=len(rows))
        return len(rows)

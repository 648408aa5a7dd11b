"""What the scoring benchmarks share: one private topic carrying a realistic scoring stream
(every event type scoring consumes; the handlers dispatch on type, not topic), a scoring worker
consuming it into its own schema, and the figures printed."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts import CloudEvent, encode_event
from services.devstack.topics import ensure_topics
from services.runtime.db import open_schema
from services.runtime.subscription import start_consumer
from services.scoring.app import definition as scoring_definition
from services.scoring.repository import ScoringRepository
from services.scoring.settings import ScoringSettings

# The batch size a deployed scoring worker uses (SCORING_CONSUMER_MAX_RECORDS' default): the
# benchmarks measure that worker unless told otherwise.
DEPLOYED_BATCH: int = ScoringSettings.model_fields["consumer_max_records"].default


async def private_topic(bootstrap: str, topic: str, partitions: int) -> None:
    await ensure_topics(bootstrap, [(topic, partitions), (f"{topic}.dlq", partitions)])


async def produce(bootstrap: str, topic: str, events: Sequence[CloudEvent]) -> int:
    """Publish the events (keyed as registration keys them); return the mean record size."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=64 * 1024)
    await producer.start()
    futures, size = [], 0
    for event in events:
        value = encode_event(event)
        size += len(value)
        futures.append(await producer.send(topic, value, key=event.partition_key().encode()))
    await asyncio.gather(*futures)
    await producer.stop()
    return size // max(1, len(events))


async def consume_ceiling(bootstrap: str, topic: str, count: int, batch: int) -> float:
    """Records/s aiokafka alone fetches from the topic (no decoding, no database)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    seen, started = 0, None
    while seen < count:
        got = await consumer.getmany(timeout_ms=500, max_records=batch)
        if got and started is None:
            started = time.perf_counter()
        seen += sum(len(records) for records in got.values())
    elapsed = time.perf_counter() - (started or time.perf_counter())
    await consumer.stop()
    return seen / elapsed if elapsed else float("inf")


class ScoringWorker:
    """scoring's real handlers and repository on a schema of their own, reading `topic`."""

    def __init__(self, bootstrap: str, database_url: str, run_id: str, name: str,
                 batch: int) -> None:
        settings = ScoringSettings(
            kafka_bootstrap_servers=bootstrap, database_url=database_url,
            consumer_group=f"bench-scoring-{name}-{run_id}", consumer_max_records=batch,
            consumer_session_timeout_ms=6000, consumer_heartbeat_interval_ms=500,
            db_schema=f"bench_scoring_{name}_{run_id}")
        self.definition = scoring_definition(settings)

    async def open(self) -> ScoringWorker:
        d = self.definition
        self.pool = await open_schema(d.settings.database_url, d.schema,
                                      (d.name, d.migrations_dir), max_size=6)
        self.statements = StatementProfile()
        await self.statements.watch(self.pool, 6)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.definition.settings.kafka_bootstrap_servers)
        await self.producer.start()
        return self

    async def start(self, topic: str) -> None:
        self.broker, self.consumer = await start_consumer(
            self.definition.settings, self.pool, self.producer, self.definition.handlers,
            repository=ScoringRepository, topics=[topic])

    async def applied(self, count: int) -> float:
        """Wait until `count` events are applied; events/s from the first applied batch."""
        stats = self.consumer.stats
        while stats.applied == 0:
            await asyncio.sleep(0.005)
        # The first batch's events were applied before the clock started: not counted.
        first, before = time.perf_counter(), stats.applied
        while stats.applied + stats.duplicates < count:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - first
        return (stats.applied - before) / elapsed if elapsed else float("inf")

    async def close(self) -> None:
        await self.broker.stop()
        await self.producer.stop()
        await self.pool.close()


class StatementProfile:
    """Every statement the worker's pool sends (each one round trip), by kind, with the time
    the client waited for it: load-independent evidence of what a batch costs."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.enabled = True
        self.on_commit = None

    async def watch(self, pool, size: int) -> None:
        held = [await pool.acquire() for _ in range(size)]
        for conn in held:
            conn.add_query_logger(self._log)
        for conn in held:
            await pool.release(conn)

    def _log(self, record) -> None:
        if self.enabled:
            kind = " ".join(record.query.split())[:60]
            self.calls[kind] += 1
            self.seconds[kind] += record.elapsed
            if kind.rstrip(";") == "COMMIT" and self.on_commit is not None:
                self.on_commit(record.elapsed)

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()

    def report(self, batches: int, events: int) -> str:
        total = sum(self.calls.values())
        lines = [f"         {total:,} statements = {total / max(1, batches):.1f} round trips per "
                 f"batch ({batches:,} batches, {events / max(1, batches):.0f} events each); "
                 f"client wait {1000 * sum(self.seconds.values()) / max(1, batches):.1f} ms "
                 f"per batch"]
        for kind, n in self.calls.most_common():
            lines.append(f"           {n / max(1, batches):5.2f}/batch "
                         f"{1000 * self.seconds[kind] / max(1, n):7.2f} ms  {kind}")
        return "\n".join(lines)


class BatchTimeline:
    """When each batch reached the worker, was topped up, applied and committed, and which
    records it held: where an event's delay goes, measured in the worker itself.

    Installed around the subscription's top-up and the consumer's `handle_batch` (the
    deployed code, unchanged); `perf_counter` is the machine's monotonic clock, the same in the
    benchmark's process.
    """

    def __init__(self) -> None:
        self.batches: list[dict] = []
        self._arrived: tuple[float, float, int] | None = None
        self._commits: list[tuple[float, float]] = []

    def install(self, worker: ScoringWorker) -> None:
        from services.runtime import subscription

        top_up = subscription._top_up

        async def timed_top_up(message, wait_ms: int, max_records: int) -> None:
            delivered, before = time.perf_counter(), len(message.raw_message)
            await top_up(message, wait_ms, max_records)
            self._arrived = (delivered, time.perf_counter(), before)

        subscription._top_up = timed_top_up
        handle_batch = worker.consumer.handle_batch

        async def timed_handle_batch(records) -> None:
            started = time.perf_counter()
            topped_up = self._arrived is not None
            delivered, topped, before = self._arrived or (started, started, len(records))
            self._arrived, self._commits = None, []
            await handle_batch(records)
            await asyncio.sleep(0)  # the query logger reports the COMMIT at the next turn
            self.batches.append({
                "delivered": delivered, "topped": topped, "started": started,
                "ended": time.perf_counter(), "before": before, "topped_up": topped_up,
                # (sent, returned) of each transaction's COMMIT: the last one made it visible
                "commit": max(self._commits, default=(started, started), key=lambda c: c[1]),
                "records": [(r.partition, r.offset) for r in records],
            })

        worker.consumer.handle_batch = timed_handle_batch
        worker.statements.on_commit = self._committed

    def _committed(self, elapsed: float) -> None:
        now = time.perf_counter()
        self._commits.append((now - elapsed, now))


def _worker_process(pipe, bootstrap: str, database_url: str, run_id: str, name: str,
                    batch: int, topic: str) -> None:
    """A scoring worker alone in its process, as deployed: what measures it (publisher,
    watchers) runs in another and takes none of its event loop or interpreter."""
    from services.runtime.logs import configure_logging

    configure_logging("bench", "console", "WARNING")

    async def main() -> None:
        worker = await ScoringWorker(bootstrap, database_url, run_id, name, batch).open()
        await worker.start(topic)
        timeline = BatchTimeline()
        timeline.install(worker)
        stats = worker.consumer.stats
        pipe.send("started")
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            if command == "reset":
                worker.statements.reset()
                timeline.batches.clear()
                pipe.send(stats.batches)
            elif command == "timeline":
                pipe.send(timeline.batches)
            elif command == "report":
                worker.statements.enabled = False
                pipe.send((stats.batches, dict(worker.statements.calls),
                           dict(worker.statements.seconds)))
            elif isinstance(command, tuple) and command[0] == "applied":
                # waited for here, where the count is at hand: no query, no round trip per poll
                while stats.applied + stats.duplicates < command[1]:
                    await asyncio.sleep(0.01)
                pipe.send(stats.applied + stats.duplicates)
            elif command == "stop":
                await worker.close()
                pipe.send("stopped")
                return

    asyncio.run(main())


class WorkerProcess:
    """A `ScoringWorker` run by `_worker_process`, told what to do over a pipe."""

    def __init__(self, bootstrap: str, database_url: str, run_id: str, name: str,
                 batch: int, topic: str) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_worker_process, args=(child, bootstrap, database_url, run_id, name, batch,
                                          topic), daemon=True)
        self.schema = ScoringWorker(bootstrap, database_url, run_id, name, batch).definition.schema

    async def _ask(self, command: str | None):
        if command is not None:
            self._pipe.send(command)
        return await asyncio.get_running_loop().run_in_executor(None, self._pipe.recv)

    async def start(self) -> None:
        self._process.start()
        await self._ask(None)

    async def reset_statements(self) -> int:
        """Forget the statements so far; the batches applied so far."""
        return await self._ask("reset")

    async def statements(self) -> tuple[int, StatementProfile]:
        batches, calls, seconds = await self._ask("report")
        profile = StatementProfile()
        profile.calls.update(calls)
        profile.seconds.update(seconds)
        return batches, profile

    async def timeline(self) -> list[dict]:
        """The batches applied since the last reset, as `BatchTimeline` recorded them."""
        return await self._ask("timeline")

    async def applied(self, count: int) -> None:
        """Until the worker has applied (or found duplicate) `count` events since it started."""
        await self._ask(("applied", count))

    async def stop(self) -> None:
        await self._ask("stop")
        self._process.join(10)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(delays_ms: Sequence[float]) -> str:
    return (f"p50 {percentile(delays_ms, 0.5):.1f} ms, p99 {percentile(delays_ms, 0.99):.1f} ms, "
            f"max {max(delays_ms):.1f} ms, mean {statistics.fmean(delays_ms):.1f} ms "
            f"over {len(delays_ms):,} events")

"""The Kafka side of the relay's pipeline: batches handed to the producer, and their acks.

The relay's leader loop selects batch N+1 (and deletes acknowledged rows) on its database
connection while this pipeline works on the earlier batches, in two tasks of its own:

- the **hand-over** task gives each selected batch's rows to the producer, one batch after the
  other in selection order (the producer then keeps one request in flight per partition, so
  rows reach each partition in the order handed over), with the partition Kafka's default
  partitioner would choose for the key (`relay_partitions`);
- the **ack** task awaits each handed-over batch's acknowledgements, in the same order, and
  keeps the `seq`s Kafka acknowledged until the leader deletes them.

A row whose send failed is never listed as acknowledged, so it stays in the outbox. After the
first failure nothing more is handed over; batches still queued are dropped (their rows stay
in the outbox too), and the leader ends its session.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter

from aiokafka import AIOKafkaProducer

from contracts import CLOUDEVENTS_CONTENT_TYPE

from .relay_cursor import KEY, SEQ, TOPIC, TRACEPARENT, VALUE, Selected
from .relay_partitions import key_hash, partitions

_HEADERS = [("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())]


def _headers(traceparent: str | None) -> list[tuple[str, bytes]]:
    """The record's headers: the trace context stored with the row continues in them."""
    if traceparent is None:
        return _HEADERS
    return [*_HEADERS, ("traceparent", traceparent.encode("ascii"))]


@dataclass
class _Batch:
    selected: Selected
    # When the oldest row's transaction started, on this process's monotonic clock.
    oldest_born: float
    # One per row handed over, in row order (fewer than rows if a send failed midway).
    acks: list[asyncio.Future] = field(default_factory=list)


@dataclass
class SettledBatch:
    rows: int
    acknowledged: int
    per_topic: Counter[str]
    failure: BaseException | None


class PublishPipeline:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        max_batches: int,
        on_settled: Callable[[SettledBatch], None],
        on_failure: Callable[[], None],
    ) -> None:
        self._producer = producer
        self._max_batches = max_batches
        self._on_settled = on_settled
        self._on_failure = on_failure
        # Batches submitted and not yet settled (queued, being handed over, or awaiting acks).
        self._batches = 0
        self._selected: asyncio.Queue[_Batch] = asyncio.Queue()
        self._handed: asyncio.Queue[_Batch] = asyncio.Queue()
        self._awaiting: deque[_Batch] = deque()
        self._acknowledged: list[int] = []
        self._tasks: list[asyncio.Task] = []
        # The first failed send: nothing more is handed to the producer after it.
        self.failure: BaseException | None = None

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._hand_over(), name="outbox-relay-hand-over"),
            asyncio.create_task(self._collect_acks(), name="outbox-relay-acks"),
        ]

    def has_room(self) -> bool:
        return self._batches < self._max_batches

    def is_empty(self) -> bool:
        return self._batches == 0

    def submit(self, selected: Selected) -> None:
        """Queue selected rows for the producer."""
        self._batches += 1
        self._selected.put_nowait(_Batch(selected, time.monotonic() - selected.oldest_age_s))

    def take_acknowledged(self) -> list[int]:
        """The `seq`s acknowledged since the last call, for the leader to delete."""
        taken, self._acknowledged = self._acknowledged, []
        return taken

    def give_back(self, seqs: list[int]) -> None:
        """Acknowledged `seq`s the leader took but could not delete: still to be deleted."""
        self._acknowledged[:0] = seqs

    def oldest_born(self) -> float | None:
        """When the oldest row awaiting its ack was written (monotonic clock), if any."""
        return min((b.oldest_born for b in self._awaiting), default=None)

    async def close(self, settle_timeout: float) -> None:
        """Hand nothing more over; wait up to `settle_timeout` s for the acks of what was."""
        hand_over, collect = self._tasks or (None, None)
        if hand_over is not None:
            hand_over.cancel()  # a batch cut short still awaits the acks of its handed rows
            await asyncio.gather(hand_over, return_exceptions=True)
        try:
            async with asyncio.timeout(settle_timeout):
                await self._handed.join()
        finally:
            if collect is not None:
                collect.cancel()
                await asyncio.gather(collect, return_exceptions=True)

    def _fail(self, error: BaseException) -> None:
        if self.failure is None:
            self.failure = error
            self._on_failure()

    async def _hand_over(self) -> None:
        producer, send = self._producer, self._producer.send
        while True:
            batch = await self._selected.get()
            acks = batch.acks
            # send() rarely suspends, so a batch is handed over without letting the event loop
            # run; between batches it must, or the leader's next select and the producer's
            # sender would wait for the queue to drain.
            await asyncio.sleep(0)
            topic_partitions: dict[str, list[int]] = {}  # per batch: partition counts may grow
            try:
                for row in batch.selected.rows:
                    if self.failure is not None:
                        break  # an earlier send failed: the leader starts over from the outbox
                    topic, key = row[TOPIC], row[KEY]
                    if (partitions_of_topic := topic_partitions.get(topic)) is None:
                        partitions_of_topic = await partitions(producer, topic)
                        topic_partitions[topic] = partitions_of_topic
                    acks.append(await send(
                        topic, row[VALUE], key=key, headers=_headers(row[TRACEPARENT]),
                        # partition_for(), inlined: this loop is the relay's hot path
                        partition=partitions_of_topic[key_hash(key) % len(partitions_of_topic)],
                    ))
            except Exception as exc:
                self._fail(exc)
            finally:
                if batch.acks:
                    self._awaiting.append(batch)
                    self._handed.put_nowait(batch)
                else:
                    self._batches -= 1

    async def _collect_acks(self) -> None:
        while True:
            batch = await self._handed.get()
            for ack in batch.acks:
                if not ack.done():
                    # wait(), not await: cancelling this task must not cancel the producer's
                    # futures (their rows would count as failed though Kafka may have them).
                    await asyncio.wait((ack,))
            rows, seqs, acks = batch.selected.rows, batch.selected.seqs, batch.acks
            failed = [i for i, ack in enumerate(acks) if ack.cancelled() or ack.exception()]
            if failed:
                first = acks[failed[0]]
                # A cancelled send is a failed one, not this task being cancelled.
                failure = (RuntimeError("the producer cancelled a send") if first.cancelled()
                           else first.exception())
                skip = set(failed)
                acknowledged = [row for i, row in enumerate(rows[: len(acks)]) if i not in skip]
                self._acknowledged.extend(row[SEQ] for row in acknowledged)
            else:
                failure = None
                acknowledged = rows if len(acks) == len(rows) else rows[: len(acks)]
                self._acknowledged.extend(seqs if len(acks) == len(seqs) else seqs[: len(acks)])
            per_topic = Counter(map(itemgetter(TOPIC), acknowledged))
            self._awaiting.popleft()
            self._batches -= 1
            self._handed.task_done()
            if failure is not None:
                self._fail(failure)
            self._on_settled(SettledBatch(len(acks), len(acknowledged), per_topic, failure))

"""Kafka offset commits taken off the batch loop's path.

A batch's offsets may be committed only once its transaction has committed; waiting for the
broker's answer before fetching the next batch, though, adds a round trip to every batch (and
to every event's delay behind it). The inbox makes a redelivered record harmless, so nothing
requires that answer before going on: a batch's offsets are handed to `OffsetCommits`, which
commits them in the background, one commit at a time, the offsets of the batches applied
meanwhile merged into the next. A commit that fails (a rebalance took the partition, the
broker went away) is logged and its offsets merged into the next one: at worst the records are
delivered again, and the inbox skips them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord, TopicPartition

from . import metrics

log = structlog.get_logger()


def next_offsets(records: Sequence[ConsumerRecord]) -> dict[TopicPartition, int]:
    """Per partition, the offset after the batch's last record: what a commit records."""
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
    return offsets


def rewind(consumer: Any, records: Sequence[ConsumerRecord]) -> None:
    """Seek each partition of a failed batch back to its first record: the batch (the records
    its top-up added included) is delivered again, none of it committed past."""
    if not hasattr(consumer, "seek"):
        return
    first: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        first[tp] = min(first.get(tp, r.offset), r.offset)
    for tp, offset in first.items():
        consumer.seek(tp, offset)


class OffsetCommits:
    """Commits applied batches' offsets for one consumer, in the background, never two at once
    (so a late answer can never move a partition back), always the highest offset applied."""

    def __init__(self, consumer: Any, stop_wait_s: float = 10.0) -> None:
        self.consumer = consumer
        self._pending: dict[TopicPartition, int] = {}
        self._task: asyncio.Task | None = None
        # A graceful stop finishes the batch in hand, then stops the consumer: its offsets are
        # committed first, or the next owner would receive that batch again for nothing. A
        # broker that does not answer holds the stop `stop_wait_s` at most.
        stop = getattr(consumer, "stop", None)
        if stop is not None:
            async def stop_after_commits() -> None:
                try:
                    await asyncio.wait_for(self.flush(), stop_wait_s)
                except TimeoutError:
                    log.warning("offset_commits_left_at_stop", partitions=len(self._pending))
                if self._task is not None:
                    self._task.cancel()
                await stop()

            consumer.stop = stop_after_commits

    def applied(self, records: Sequence[ConsumerRecord]) -> None:
        """The batch of `records` is committed in the database: commit its offsets soon."""
        for tp, offset in next_offsets(records).items():
            self._pending[tp] = max(self._pending.get(tp, 0), offset)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._commit_pending())

    async def flush(self) -> None:
        """Until every offset handed over so far is committed (or its commit failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _commit_pending(self) -> None:
        while self._pending:
            offsets, self._pending = self._pending, {}
            try:
                await self.consumer.commit(offsets)
                metrics.CONSUMER_OFFSET_COMMITS.labels("committed").inc()
            except Exception as exc:  # redelivery is safe; the next commit retries
                metrics.CONSUMER_OFFSET_COMMITS.labels("failed").inc()
                log.warning("offset_commit_failed", error=repr(exc),
                            partitions=len(offsets))
                # Still ours? Then the next commit carries them (a revoked partition's offsets
                # are the new owner's to commit).
                owned = self._owned()
                for tp, offset in offsets.items():
                    if tp in owned:
                        self._pending[tp] = max(self._pending.get(tp, 0), offset)
                if self._pending:
                    await asyncio.sleep(0.5)

    def _owned(self) -> set[TopicPartition]:
        try:
            return set(self.consumer.assignment())
        except Exception:  # a stopped consumer owns nothing
            return set()

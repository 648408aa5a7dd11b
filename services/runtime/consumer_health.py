"""Whether the consumer is making progress: a partition whose batches keep failing is stalled.

A running consumer task is not enough for readiness: a batch that fails and is redelivered
forever keeps the task alive while its partition never advances. Each partition remembers since
when its batches have been failing; readiness fails once one has failed for longer than the
stall threshold without a success in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from . import metrics

PartitionId = tuple[str, int]


class ConsumerHealth:
    def __init__(
        self, stall_after_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._failing_since: dict[PartitionId, float] = {}
        self.last_success: float | None = None

    def succeeded(self, partitions: Iterable[PartitionId]) -> None:
        self.last_success = self._clock()
        for partition in partitions:
            if self._failing_since.pop(partition, None) is not None:
                metrics.CONSUMER_PARTITION_STALLED.labels(*_labels(partition)).set(0)

    def failed(self, partitions: Iterable[PartitionId]) -> None:
        now = self._clock()
        for partition in partitions:
            self._failing_since.setdefault(partition, now)

    def stalled(self) -> dict[PartitionId, float]:
        """Partitions failing for longer than the threshold, with how long (seconds)."""
        now = self._clock()
        out = {}
        for partition, since in self._failing_since.items():
            metrics.CONSUMER_PARTITION_STALLED.labels(*_labels(partition)).set(now - since)
            if now - since >= self.stall_after_s:
                out[partition] = now - since
        return out

    def check(self) -> str:
        """"ok", or "failing: ..." naming the stalled partitions."""
        stalled = self.stalled()
        if not stalled:
            return "ok"
        worst = sorted(stalled.items(), key=lambda kv: -kv[1])[:3]
        names = ", ".join(f"{topic}[{partition}] for {age:.0f} s" for (topic, partition), age in worst)
        return f"failing: partition not advancing: {names}"


def _labels(partition: PartitionId) -> tuple[str, str]:
    return partition[0], str(partition[1])

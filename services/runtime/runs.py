"""Splitting a batch into runs of one event type without reordering any partition.

Order matters per partition (per unit: submitted before reviewed), not across partitions. A
batch is cut into runs: each run takes, from every partition, the longest prefix of one type.
A homogeneous batch (a bulk import, a burst of reviews) is a single run, which a batch handler
applies with one set-based statement; a mixed one keeps every partition's order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar


class Positioned(Protocol):
    @property
    def partition_id(self) -> tuple[str, int]: ...

    @property
    def event_type(self) -> str: ...


ItemT = TypeVar("ItemT", bound=Positioned)


def runs_by_type(items: Sequence[ItemT]) -> Iterator[tuple[str, list[ItemT]]]:
    """Yield (event type, items) runs; concatenated per partition they equal the input order."""
    queues: dict[tuple[str, int], deque[ItemT]] = {}
    for item in items:
        queues.setdefault(item.partition_id, deque()).append(item)
    pending = [q for q in queues.values() if q]
    while pending:
        event_type = pending[0][0].event_type
        run: list[ItemT] = []
        for queue in pending:
            while queue and queue[0].event_type == event_type:
                run.append(queue.popleft())
        yield event_type, run
        pending = [q for q in pending if q]

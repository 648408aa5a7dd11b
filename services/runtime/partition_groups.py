"""How a batch is cut for applying on several connections: whole partitions per group."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord

# A batch smaller than this is applied in one transaction even when the consumer may use more:
# a second transaction's fixed round trips would cost more than the parallelism gains.
SPLIT_MIN_RECORDS = 200


def partition_groups(records: Sequence[ConsumerRecord], connections: int) -> list[list[ConsumerRecord]]:
    """The batch cut into at most `connections` groups of whole partitions, of about equal
    sizes, each partition's records in their order: what one transaction applies.

    A partition is never split, so the events of one key (one unit) are applied in order by
    one transaction, as with a single connection.
    """
    if connections <= 1 or len(records) < SPLIT_MIN_RECORDS:
        return [list(records)]
    by_partition: dict[tuple[str, int], list[ConsumerRecord]] = {}
    for record in records:
        by_partition.setdefault((record.topic, record.partition), []).append(record)
    if len(by_partition) == 1:
        return [list(records)]
    groups: list[list[ConsumerRecord]] = [[] for _ in range(min(connections, len(by_partition)))]
    # Largest partition first onto the smallest group: balanced enough, deterministic.
    for key in sorted(by_partition, key=lambda k: (-len(by_partition[k]), k)):
        min(groups, key=len).extend(by_partition[key])
    return groups

"""How a batch is cut into transactions applied side by side: whole partitions, in order."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from services.runtime.partition_groups import SPLIT_MIN_RECORDS, partition_groups


def _records(counts: dict[int, int], topic: str = "t") -> list[ConsumerRecord]:
    return [
        ConsumerRecord(topic, partition, offset, 0, 0, None, b"v", None, 0, 1, ())
        for partition, n in counts.items() for offset in range(n)
    ]


def _coordinates(group: list[ConsumerRecord]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in group]


def test_one_connection_keeps_the_batch_whole():
    records = _records({0: 300, 1: 300})
    assert partition_groups(records, 1) == [records]


def test_a_small_batch_or_a_single_partition_is_one_transaction():
    small = _records({0: SPLIT_MIN_RECORDS // 2 - 1, 1: SPLIT_MIN_RECORDS // 2})
    assert partition_groups(small, 2) == [small]
    single = _records({4: 5 * SPLIT_MIN_RECORDS})
    assert partition_groups(single, 2) == [single]


def test_partitions_are_never_split_and_keep_their_order():
    records = _records({0: 120, 1: 80, 2: 150, 3: 40})
    groups = partition_groups(records, 2)
    assert len(groups) == 2
    assert sorted(_coordinates([r for g in groups for r in g])) == sorted(_coordinates(records))
    for group in groups:
        for partition in {r.partition for r in group}:
            offsets = [r.offset for r in group if r.partition == partition]
            assert offsets == sorted(offsets)
    owners = {r.partition: i for i, g in enumerate(groups) for r in g}
    assert all(owners[r.partition] == i for i, g in enumerate(groups) for r in g)


def test_groups_are_balanced_by_records_largest_partition_first():
    groups = partition_groups(_records({0: 150, 1: 120, 2: 80, 3: 40}), 2)
    assert sorted(len(g) for g in groups) == [190, 200]  # {150, 40} and {120, 80}


def test_never_more_groups_than_partitions():
    groups = partition_groups(_records({0: 150, 1: 150}), 4)
    assert [len(g) for g in groups] == [150, 150]


def test_the_same_partition_number_of_two_topics_is_two_partitions():
    records = _records({0: 150}, "a") + _records({0: 150}, "b")
    groups = partition_groups(records, 2)
    assert [{r.topic for r in g} for g in groups] == [{"a"}, {"b"}]

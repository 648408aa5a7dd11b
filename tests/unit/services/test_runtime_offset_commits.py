"""Background offset commits: one at a time, highest offsets, failures retried while owned,
flushed before the consumer stops; a failed batch rewound to its first records."""

from __future__ import annotations

import asyncio

from aiokafka.structs import ConsumerRecord, TopicPartition

from services.runtime.offset_commits import OffsetCommits, next_offsets, rewind

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def record(partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", partition, offset, 0, 0, None, b"", None, 0, 0, ())


class Consumer:
    """Answers commits when told to (`release`), fails those it is told to fail."""

    def __init__(self, owned=(A, B)) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.attempts = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.failures = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.owned = set(owned)
        self.stopped = False
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def commit(self, offsets) -> None:
        self.attempts += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            if self.failures:
                self.failures -= 1
                raise RuntimeError("rebalance in progress")
            self.commits.append(dict(offsets))
        finally:
            self.in_flight -= 1

    def assignment(self):
        return self.owned

    async def stop(self) -> None:
        self.stopped = True

    def seek(self, tp, offset) -> None:
        self.seeks.append((tp, offset))


def test_next_offsets_are_one_past_each_partitions_last_record() -> None:
    assert next_offsets([record(0, 5), record(1, 2), record(0, 7), record(0, 6)]) == {A: 8, B: 3}


async def test_batches_applied_during_a_commit_are_merged_into_the_next_one() -> None:
    consumer = Consumer()
    consumer.gate.clear()
    commits = OffsetCommits(consumer)
    commits.applied([record(0, 1)])
    await asyncio.sleep(0)
    commits.applied([record(0, 2), record(1, 4)])
    commits.applied([record(0, 3)])
    consumer.gate.set()
    await commits.flush()
    assert consumer.commits == [{A: 2}, {A: 4, B: 5}]
    assert consumer.most_in_flight == 1  # never two at once: a late answer cannot move back


async def test_a_failed_commit_is_retried_with_the_next_for_the_partitions_still_owned() -> None:
    consumer = Consumer(owned={A})
    consumer.failures = 1
    commits = OffsetCommits(consumer)
    commits.applied([record(0, 9), record(1, 9)])
    await commits.flush()
    assert consumer.commits == [{A: 10}]  # B went to another member: its offsets are not ours


async def test_stopping_the_consumer_waits_for_the_commits_handed_over() -> None:
    consumer = Consumer()
    consumer.gate.clear()
    commits = OffsetCommits(consumer)
    commits.applied([record(1, 0)])
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.01)
    assert not consumer.stopped
    consumer.gate.set()
    await stopping
    assert consumer.stopped and consumer.commits == [{B: 1}]


def test_a_failed_batch_is_rewound_to_each_partitions_first_record() -> None:
    consumer = Consumer()
    rewind(consumer, [record(0, 7), record(1, 3), record(0, 5), record(1, 4)])
    assert sorted(consumer.seeks) == [(A, 5), (B, 3)]


async def test_a_broker_that_never_answers_holds_the_stop_only_so_long() -> None:
    consumer = Consumer()
    consumer.failures = 10**6  # every commit fails while the partitions stay ours
    commits = OffsetCommits(consumer, stop_wait_s=0.2)
    commits.applied([record(0, 1)])
    await asyncio.wait_for(consumer.stop(), 5)
    assert consumer.stopped and consumer.commits == []
    attempts = consumer.attempts
    await asyncio.sleep(0.7)  # longer than the wait between retries
    assert consumer.attempts == attempts  # none after the stop

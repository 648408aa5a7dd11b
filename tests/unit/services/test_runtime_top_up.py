"""A delivered batch takes in what the fetch its delivery started brings, within its room."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord, TopicPartition

from services.runtime.subscription import TopUpPolicy, _top_up


def _record(partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", partition, offset, 0, 0, None, b"v", None, 0, 1, ())


class Client:
    def __init__(self, fetched: dict) -> None:
        self.fetched = fetched
        self.asked: list[tuple[int, int]] = []

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        self.asked.append((timeout_ms, max_records))
        return {tp: records[:max_records] for tp, records in self.fetched.items()}


class Message:
    def __init__(self, records, consumer=None) -> None:
        self.raw_message = tuple(records)
        if consumer is not None:
            self.consumer = consumer


async def test_the_records_fetched_meanwhile_join_the_batch_after_it():
    client = Client({TopicPartition("t", 1): [_record(1, 7), _record(1, 8)]})
    message = Message([_record(0, 3)], client)
    await _top_up(message, 20, 100)
    assert [(r.partition, r.offset) for r in message.raw_message] == [(0, 3), (1, 7), (1, 8)]
    assert client.asked == [(20, 99)]


async def test_a_full_batch_or_nothing_fetched_leaves_the_batch_as_delivered():
    client = Client({TopicPartition("t", 1): [_record(1, 7)]})
    full = Message([_record(0, n) for n in range(3)], client)
    await _top_up(full, 20, 3)
    assert len(full.raw_message) == 3 and client.asked == []
    empty = Message([_record(0, 1)], Client({}))
    await _top_up(empty, 20, 10)
    assert [(r.partition, r.offset) for r in empty.raw_message] == [(0, 1)]


async def test_a_message_without_a_consumer_is_left_alone():
    message = Message([_record(0, 1)])
    await _top_up(message, 20, 10)
    assert len(message.raw_message) == 1


class Polled:
    """A consumer whose partitions' last fetch responses came at the given wall-clock ms."""

    def __init__(self, polled: dict[int, int | None]) -> None:
        self.polled = polled

    def last_poll_timestamp(self, tp: TopicPartition) -> int | None:
        assert tp.partition in self.polled, "Partition is not assigned"
        return self.polled[tp.partition]


def test_a_batch_tops_up_only_when_its_records_waited_in_the_buffer_the_wait_or_longer():
    policy = TopUpPolicy(20, now_ms=lambda: 10_000)
    # fetched while the previous batch was applied: more was published behind them
    assert policy.due(Polled({0: 9_960, 1: 9_995}), [_record(0, 1), _record(1, 4)])
    assert policy.due(Polled({0: 9_980}), [_record(0, 1)])
    # fetched just now by a consumer keeping up: nothing waits behind them
    assert not policy.due(Polled({0: 9_981, 1: 9_999}), [_record(0, 1), _record(1, 4)])


def test_no_wait_set_a_revoked_partition_or_no_consumer_never_tops_up():
    records = [_record(0, 1)]
    assert not TopUpPolicy(0, now_ms=lambda: 10_000).due(Polled({0: 1}), records)
    policy = TopUpPolicy(20, now_ms=lambda: 10_000)
    assert not policy.due(Polled({1: 1}), records)
    assert not policy.due(None, records)
    assert policy.due(Polled({0: None}), records)  # not stamped yet: as before, it waits

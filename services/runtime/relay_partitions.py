"""The partition of each outbox row, chosen as Kafka's default partitioner chooses it.

aiokafka's `send()` without a partition rebuilds the topic's partition lists and runs a pure
Python murmur2 over the key for every record: about a quarter of its per-record CPU, and the
relay is CPU-bound. The relay passes the partition itself, computed the same way — murmur2 of
the key, made positive, modulo the number of partitions, as aiokafka's `DefaultPartitioner`
and the Java client do — with the hash remembered per key (events about one unit share it).
The partition count is read from the producer's metadata for every batch, so a topic that
grows partitions is followed as the producer would follow it.
"""

from __future__ import annotations

from functools import lru_cache

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

# Partition keys are unit, campaign or recipient ids: a city has tens of thousands of units.
_KEYS_REMEMBERED = 200_000


@lru_cache(maxsize=_KEYS_REMEMBERED)
def key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


async def partitions(producer: AIOKafkaProducer, topic: str) -> list[int]:
    """The topic's partitions, sorted (waits for the topic's metadata if not known yet)."""
    return sorted(await producer.partitions_for(topic))


def partition_for(key: bytes, topic_partitions: list[int]) -> int:
    """What `DefaultPartitioner` returns for a key, given the sorted partitions of its topic."""
    return topic_partitions[key_hash(key) % len(topic_partitions)]

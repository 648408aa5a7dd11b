"""Reading a topic without a consumer group: every partition assigned, nothing committed, no
group join (which takes half the session timeout on the embedded broker)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

# The end of a topic is the end offsets read at the start; tansu's can be one too high, so a
# quiet spell this long also counts as the end.
QUIET_END_S = 1.5
POLL_MS = 200


class TopicNotFound(LookupError):
    pass


@dataclass
class TopicReader:
    consumer: AIOKafkaConsumer
    partitions: list[TopicPartition]
    ends: dict[TopicPartition, int]
    _quiet_since: float = field(default_factory=time.monotonic)

    async def poll(self) -> list[ConsumerRecord]:
        """The next records, in time order across partitions."""
        batches = await self.consumer.getmany(*self.partitions, timeout_ms=POLL_MS)
        records = sorted((r for batch in batches.values() for r in batch),
                         key=lambda r: (r.timestamp, r.partition, r.offset))
        if records:
            self._quiet_since = time.monotonic()
        return records

    async def at_end(self) -> bool:
        """Whether every partition reached the end read at the start (or it has been quiet)."""
        if time.monotonic() - self._quiet_since > QUIET_END_S:
            return True
        return all([await self.consumer.position(tp) >= self.ends[tp]
                    for tp in self.partitions])


@asynccontextmanager
async def reading(bootstrap_servers: str, topic: str, *, from_beginning: bool,
                  client_id: str) -> AsyncIterator[TopicReader]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, client_id=client_id)
    await consumer.start()
    try:
        await consumer.topics()  # loads the cluster's metadata
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise TopicNotFound(f"no topic {topic!r} on {bootstrap_servers}")
        partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        yield TopicReader(consumer, partitions, await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()

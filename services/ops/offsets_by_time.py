"""Offsets found by reading, where the embedded broker's answers cannot be taken as they are.

- `offsets_at`: the first offset of each partition whose record was written at or after a
  time. Kafka answers this from its time index (`offsets_for_times`); the embedded broker
  (tansu) answers it wrongly, so each answer is checked against the records on both sides of
  it, and a partition whose answer does not hold is searched by bisection over its record
  timestamps (a few dozen one-record fetches).
- `true_ends`: the offset after each partition's last record. The embedded broker answers the
  first offset of the last batch written plus one (a relay's batch of 500 looks like one
  record), so the log is read on from the end it reports until nothing more comes. Committing
  its answer would put a group before records it has not read, or past the end, where the
  consumer resets to the earliest record and reads everything again.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

_FETCH_TIMEOUT_MS = 2000
# Two empty polls this long in a row: nothing more to read past the reported end.
_QUIET_MS = 300


async def true_ends(consumer: AIOKafkaConsumer,
                    partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """`consumer` is started and in no group; it is assigned `partitions`."""
    ends = dict(await consumer.end_offsets(partitions))
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, ends[tp])
    quiet = 0
    while quiet < 2:
        got = await consumer.getmany(timeout_ms=_QUIET_MS)
        quiet = 0 if got else quiet + 1
        for tp, records in got.items():
            ends[tp] = max(ends[tp], records[-1].offset + 1)
    return ends


async def offsets_at(consumer: AIOKafkaConsumer, partitions: list[TopicPartition],
                     at_ms: int) -> dict[TopicPartition, int]:
    """`consumer` is started and in no group; it is assigned partitions as it reads."""
    starts = await consumer.beginning_offsets(partitions)
    ends = await true_ends(consumer, partitions)
    answered = await consumer.offsets_for_times(dict.fromkeys(partitions, at_ms))
    found = {}
    for tp in partitions:
        guess = answered[tp].offset if answered.get(tp) is not None else ends[tp]
        guess = min(max(guess, starts[tp]), ends[tp])
        if not await _holds(consumer, tp, guess, at_ms, starts[tp], ends[tp]):
            guess = await _bisect(consumer, tp, at_ms, starts[tp], ends[tp])
        found[tp] = guess
    return found


async def _holds(consumer, tp, offset, at_ms, start, end) -> bool:
    before_ok = offset == start or await _timestamp(consumer, tp, offset - 1) < at_ms
    return before_ok and (offset == end or await _timestamp(consumer, tp, offset) >= at_ms)


async def _bisect(consumer, tp, at_ms, low, high) -> int:
    while low < high:
        middle = (low + high) // 2
        if await _timestamp(consumer, tp, middle) < at_ms:
            low = middle + 1
        else:
            high = middle
    return low


async def _timestamp(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> int:
    """The timestamp of the record at `offset`, or of the next one kept (compaction)."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    for _ in range(5):
        got = (await consumer.getmany(tp, timeout_ms=_FETCH_TIMEOUT_MS, max_records=1)).get(tp)
        if got:
            return got[0].timestamp
    raise TimeoutError(f"no record at {tp.topic}[{tp.partition}]@{offset}")

"""`thidua dlq replay <topic>`: send dead letters back to the topic they came from.

Once the cause of a rejection is fixed (a handler bug, a rule set the consumer did not know),
the records parked in `<topic>.dlq` go back to `<topic>` with their original key, value and
headers; the `thidua-dlq-*` headers are dropped and `thidua-replayed-from` says where the copy
came from. Every consumer sees the copy, and every one that applied the event before skips it
(consumers deduplicate on the CloudEvent id), so a replay — even a repeated one — changes
nothing but what was rejected. `--dry-run` lists what would go back; filters narrow it to a
reason code, an event type or the service that rejected it. A dead letter that stands in for a
value too large to park (`thidua_dead_letter: value_too_large`) cannot be replayed: it is
listed as skipped, with its digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from contracts.topics import DLQ_HEADER_PREFIX

from .topic_reader import reading

REPLAYED_FROM = "thidua-replayed-from"


@dataclass
class ReplayFilter:
    reason_codes: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()

    def admits(self, headers: dict[str, str], event_type: str | None) -> bool:
        return ((not self.reason_codes or headers.get(f"{DLQ_HEADER_PREFIX}reason-code")
                 in self.reason_codes)
                and (not self.types or event_type in self.types)
                and (not self.services or headers.get(f"{DLQ_HEADER_PREFIX}service")
                     in self.services))


@dataclass
class ReplaySummary:
    replayed: int = 0
    skipped_by_filter: int = 0
    not_replayable: int = 0
    lines: list[str] = field(default_factory=list)


async def replay(bootstrap_servers: str, topic: str, only: ReplayFilter, *, dry_run: bool,
                 out: TextIO) -> ReplaySummary:
    summary = ReplaySummary()
    records = await _read_to_end(bootstrap_servers, f"{topic}.dlq")
    producer = None
    if not dry_run:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
        await producer.start()
    try:
        pending = []
        for record in records:
            headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
            event_type, parked = _inspect(record.value)
            where = f"{record.topic}[{record.partition}]@{record.offset}"
            reason = headers.get(f"{DLQ_HEADER_PREFIX}reason-code", "?")
            if not only.admits(headers, event_type):
                summary.skipped_by_filter += 1
                continue
            if parked is not None:
                summary.not_replayable += 1
                _say(out, f"skip    {where}  value too large to park (sha256 {parked})  {reason}")
                continue
            target = headers.get(f"{DLQ_HEADER_PREFIX}original-topic", topic)
            if producer is None:
                _say(out, f"would   {where}  -> {target}  {event_type}  {reason}")
            else:
                kept = [(k, v) for k, v in (record.headers or ())
                        if not k.startswith(DLQ_HEADER_PREFIX)]
                kept.append((REPLAYED_FROM, where.encode()))
                pending.append(await producer.send(target, record.value, key=record.key,
                                                   headers=kept))
                _say(out, f"replay  {where}  -> {target}  {event_type}  {reason}")
            summary.replayed += 1
        for acknowledged in pending:
            await acknowledged
    finally:
        if producer is not None:
            await producer.stop()
    verb = "would be replayed" if dry_run else "replayed"
    _say(out, f"{summary.replayed} {verb}, {summary.skipped_by_filter} left by the filters, "
              f"{summary.not_replayable} not replayable")
    return summary


def _inspect(value: bytes | None) -> tuple[str | None, str | None]:
    """The event type, and the digest when the value stands in for one too large to park."""
    try:
        document = json.loads(value) if value is not None else None
    except ValueError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    if document.get("thidua_dead_letter") == "value_too_large":
        return None, str(document.get("sha256"))
    return document.get("type"), None


def _say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


async def _read_to_end(bootstrap_servers: str, topic: str) -> list[ConsumerRecord]:
    """Every record of the topic now, by partition and offset."""
    async with reading(bootstrap_servers, topic, from_beginning=True,
                       client_id="thidua-dlq-replay") as reader:
        records: list[ConsumerRecord] = []
        while True:
            got = await reader.poll()
            records.extend(got)
            if not got and await reader.at_end():
                return sorted(records, key=lambda r: (r.partition, r.offset))

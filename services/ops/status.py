"""`thidua status`: how far behind each service is — consumer-group lag per topic and the
outbox rows waiting to be published — read from the broker and the database directly, so it
answers even when a service is down (its lag is then exactly what piles up).

Lag is the partition's end offset minus the group's committed offset (minus the log start for
a partition the group never committed: it starts from the earliest record). The end is read,
not asked for (`offsets_by_time.true_ends`): the embedded broker's answer can fall short by
most of the last batch written.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TextIO

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.ops.offsets_by_time import true_ends
from services.registry import SERVICES
from services.runtime.db import checked_schema
from services.runtime.relay_health import Backlog, measure_backlog


@dataclass(frozen=True)
class TopicLag:
    service: str
    group: str
    topic: str
    partitions: int
    behind: int  # partitions with lag
    lag: int


async def group_lag(bootstrap_servers: str, service: str, group: str,
                    topics: list[str]) -> list[TopicLag]:
    # A consumer named after the group, never subscribed, so it never joins: it only fetches the
    # group's committed offsets (the admin client's OffsetFetch does not parse tansu's answer).
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group,
                                enable_auto_commit=False, client_id="thidua-status")
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, client_id="thidua-status")
    await consumer.start()
    await reader.start()
    try:
        await consumer.topics()
        answer = []
        for topic in topics:
            partitions = [TopicPartition(topic, n)
                          for n in sorted(consumer.partitions_for_topic(topic) or ())]
            if not partitions:
                continue
            ends = await true_ends(reader, partitions)
            starts = await consumer.beginning_offsets(partitions)
            lags = []
            for tp in partitions:
                done = await consumer.committed(tp)
                position = done if done is not None and done >= 0 else starts[tp]
                lags.append(max(0, ends[tp] - position))
            answer.append(TopicLag(service, group, topic, len(partitions),
                                   sum(1 for lag in lags if lag), sum(lags)))
        return answer
    finally:
        await reader.stop()
        await consumer.stop()


async def outbox_backlog(database_url: str, schema: str) -> Backlog | None:
    """Rows waiting in the schema's outbox; None when the schema has no outbox yet."""
    conn = await asyncpg.connect(database_url)
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL",
                                   f"{checked_schema(schema)}.outbox"):
            return None
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            return await measure_backlog(conn)
    finally:
        await conn.close()


async def status(bootstrap_servers: str, database_url: str | None, out: TextIO) -> list[TopicLag]:
    lags: list[TopicLag] = []
    backlogs: dict[str, Backlog | None] = {}
    for entry in SERVICES:
        definition = importlib.import_module(entry.app_module).definition()
        topics = sorted(t.name for t in definition.consumes)
        lags += await group_lag(bootstrap_servers, entry.name, definition.settings.group_id,
                                topics)
        if database_url:
            backlogs[entry.name] = await outbox_backlog(database_url, definition.schema)
    rows = [("service", "group", "topic", "lag", "partitions behind")]
    rows += [(r.service, r.group, r.topic, f"{r.lag:,}", f"{r.behind}/{r.partitions}")
             for r in lags]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    for name, backlog in backlogs.items():
        shown = ("no outbox (schema not migrated)" if backlog is None else
                 f"{backlog.rows:,} rows waiting, oldest {backlog.oldest_age_s:.1f} s")
        out.write(f"outbox {name}: {shown}\n")
    return lags

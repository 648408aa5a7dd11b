"""`thidua replay <service>`: deliver a service's topics to its consumer again, from the first
record kept or from a time, optionally rebuilding the tables those topics fill.

The service's workers must be stopped: the command joins the service's consumer group and
commits the new offsets only when the group gave it every partition, that is when no worker
runs (otherwise it leaves, refusing, with nothing changed). Then:

- **without `--rebuild`** nothing in the database changes: the consumer reads the range again,
  skips every event its inbox says it applied, and applies those it never did (records whose
  offsets were committed past them, say). Safe for every topic a service consumes;
- **with `--rebuild`** (from the beginning only) the tables the topic fills are emptied and
  its events' inbox rows deleted in one transaction, so the consumer refills the tables from
  the whole history. Only a projection whose handlers emit no event can be rebuilt, or the
  replay would announce old facts again: today the unit directory (`thidua.org.v1` →
  `directory_units`, `directory_members`, `directory_clusters`) in every service. The command
  checks that the topic's handlers are exactly the projection's before touching anything.
  A service whose handlers emit events but whose tables the topics alone fill (scoring) is
  rebuilt whole instead, beside the live schema and swapped in (`schema_rebuild.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import OffsetAndMetadata

from services.ops.offsets_by_time import offsets_at
from services.registry import service as registry_entry
from services.runtime.db import checked_schema
from services.runtime.directory.handlers import directory_handlers
from services.runtime.handlers import Handlers
from services.runtime.service import ServiceDefinition

# Projections a replay may empty and refill: topic -> (the handlers that alone fill them, tables).
REBUILDABLE: dict[str, tuple[Handlers, tuple[str, ...]]] = {
    "thidua.org.v1": (directory_handlers,
                      ("directory_units", "directory_members", "directory_clusters")),
}


# The embedded broker completes a join after half the session timeout: short, so a replay is
# quick, and long enough for a loaded machine's heartbeats.
JOIN_SESSION_TIMEOUT_MS = 10_000


class ReplayRefused(RuntimeError):
    """The replay would be unsafe or cannot start; nothing was changed."""


@dataclass(frozen=True)
class ReplayPlan:
    service: str
    topics: tuple[str, ...]
    since: datetime | None = None  # None: from the first record kept
    rebuild: bool = False
    dry_run: bool = False


@dataclass
class Replayed:
    group: str
    offsets: dict[TopicPartition, int]
    tables: tuple[str, ...] = ()
    inbox_rows_deleted: int = 0


def rebuilt_tables(plan: ReplayPlan, handlers: Handlers) -> tuple[str, ...]:
    """The tables `--rebuild` empties, after checking each topic may be rebuilt."""
    if not plan.rebuild:
        return ()
    if plan.since is not None:
        raise ReplayRefused("--rebuild replays from the beginning: a table emptied and refilled "
                            "from a later time would lose what came before")
    tables: list[str] = []
    for topic in plan.topics:
        if topic not in REBUILDABLE:
            raise ReplayRefused(f"{topic} fills no table that can be rebuilt (rebuildable: "
                                f"{', '.join(sorted(REBUILDABLE))})")
        projection, its_tables = REBUILDABLE[topic]
        ours = {r.event_type: r.fn for r in handlers if r.topic.name == topic}
        theirs = {r.event_type: r.fn for r in projection}
        if ours != theirs:
            raise ReplayRefused(f"{plan.service} handles {topic} with more than its projection "
                                "(a handler that may emit events): it cannot be rebuilt")
        tables += its_tables
    return tuple(tables)


def service_definition(name: str) -> ServiceDefinition:
    """The service as its settings in the environment make it (group id, schema)."""
    return importlib.import_module(registry_entry(name).app_module).definition()


async def replay_consumer(bootstrap_servers: str, database_url: str | None,
                          definition: ServiceDefinition, plan: ReplayPlan,
                          out: TextIO) -> Replayed:
    consumed = {t.name for t in definition.consumes}
    if unknown := sorted(set(plan.topics) - consumed):
        raise ReplayRefused(f"{plan.service} does not consume {', '.join(unknown)} "
                            f"(it consumes {', '.join(sorted(consumed))})")
    tables = rebuilt_tables(plan, definition.all_handlers)
    if tables and not database_url:
        raise ReplayRefused("--rebuild needs DATABASE_URL")
    group = definition.settings.group_id
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, client_id="thidua-replay")
    await consumer.start()
    try:
        offsets = await _starting_offsets(consumer, plan)
        done = Replayed(group, offsets, tables)
        for tp, offset in sorted(offsets.items()):
            out.write(f"{'would set' if plan.dry_run else 'set'} {group} {tp.topic}"
                      f"[{tp.partition}] to {offset}\n")
        if plan.dry_run:
            out.write(f"would empty {', '.join(tables)}\n" if tables else "")
            return done
    finally:
        await consumer.stop()
    await join_as_the_only_member(bootstrap_servers, group, plan.service,
                                  sorted({tp.topic for tp in offsets}), commit=offsets)
    if tables:
        done.inbox_rows_deleted = await _empty(database_url, definition.schema, tables,
                                               plan.topics)
        out.write(f"emptied {', '.join(tables)}; {done.inbox_rows_deleted} inbox rows of "
                  f"{', '.join(plan.topics)} deleted\n")
    out.write(f"start {plan.service}'s workers: they read from these offsets\n")
    return done


async def _starting_offsets(consumer: AIOKafkaConsumer,
                            plan: ReplayPlan) -> dict[TopicPartition, int]:
    await consumer.topics()
    partitions = [TopicPartition(topic, n) for topic in plan.topics
                  for n in sorted(consumer.partitions_for_topic(topic) or ())]
    starts = await consumer.beginning_offsets(partitions)
    if plan.since is None:
        return dict(starts)
    return await offsets_at(consumer, partitions, int(plan.since.timestamp() * 1000))


async def join_as_the_only_member(bootstrap_servers: str, group: str, service: str,
                                  topics: list[str],
                                  commit: dict[TopicPartition, int] | None = None) -> None:
    """Join the group and, only if it handed this consumer every partition of `topics` (then no
    worker runs), commit `commit`; refuse otherwise. (A commit from outside the group would be
    simpler, but the embedded broker refuses it even from an empty group.) Joining a running
    group costs its workers one rebalance, and this consumer leaves again without committing."""
    consumer = AIOKafkaConsumer(*sorted(topics), bootstrap_servers=bootstrap_servers,
                                group_id=group, enable_auto_commit=False,
                                client_id="thidua-replay",
                                session_timeout_ms=JOIN_SESSION_TIMEOUT_MS,
                                heartbeat_interval_ms=1000)
    await consumer.start()
    try:
        try:
            async with asyncio.timeout(JOIN_SESSION_TIMEOUT_MS / 1000 * 3):
                while not consumer.assignment():
                    await consumer.getmany(timeout_ms=200)  # records fetched: not committed
        except TimeoutError as exc:
            raise ReplayRefused(f"{group} gave no partitions in time: are {service}'s workers "
                                "stopping or starting? (nothing was changed)") from exc
        every = {TopicPartition(t, n) for t in topics
                 for n in consumer.partitions_for_topic(t) or ()}
        if consumer.assignment() != every:
            raise ReplayRefused(f"{group} has running members: stop {service}'s workers first "
                                "(nothing was changed)")
        if commit:
            await consumer.commit({tp: OffsetAndMetadata(offset, "thidua replay")
                                   for tp, offset in commit.items()})
    except CommitFailedError as exc:
        raise ReplayRefused(f"{group} rebalanced while replaying: stop {service}'s workers "
                            "first (nothing was changed)") from exc
    finally:
        # Leaving a group that is still rebalancing can wait for the rebalance: bounded.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(JOIN_SESSION_TIMEOUT_MS / 1000):
                await consumer.stop()


async def _empty(database_url: str, schema: str, tables: tuple[str, ...],
                 topics: tuple[str, ...]) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {checked_schema(schema)}")
            await conn.execute(f"TRUNCATE {', '.join(tables)}")
            deleted = await conn.execute("DELETE FROM inbox WHERE topic = ANY($1::text[])",
                                         list(topics))
        return int(deleted.split()[-1])
    finally:
        await conn.close()

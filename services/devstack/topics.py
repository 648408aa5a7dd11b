"""Topic administration: the broker must hold every topic before a service subscribes to it.

Light on purpose (aiokafka only): the production image's one-shot topics job imports it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

TOPIC_ALREADY_EXISTS = 36

log = structlog.get_logger()


def all_topic_specs() -> list[tuple[str, int]]:
    """Every topic of the contracts' registry and its dead-letter topic, with partition counts."""
    from contracts.topics import ALL_TOPICS  # lazy: contracts import pydantic models

    specs: list[tuple[str, int]] = []
    for topic in ALL_TOPICS:
        specs += [(topic.name, topic.partitions), (topic.dlq, topic.partitions)]
    return specs


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[tuple[str, int]], replication_factor: int = 1
) -> None:
    """Create each missing (name, partitions) topic; existing topics are left as they are."""
    wanted = dict(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        missing = [name for name in wanted if name not in set(await admin.list_topics())]
        if missing:
            response = await admin.create_topics(
                [NewTopic(name, wanted[name], replication_factor) for name in missing]
            )
            _raise_on_errors(response.to_object()["topic_errors"])
        log.info("topics_ensured", created=missing, total=len(wanted))
    finally:
        await admin.close()


def _raise_on_errors(topic_errors: list[dict]) -> None:
    failed = [e for e in topic_errors if e["error_code"] not in (0, TOPIC_ALREADY_EXISTS)]
    if failed:
        raise RuntimeError(f"could not create topics: {failed}")


async def wait_for_kafka(bootstrap_servers: str, timeout_s: float = 30.0) -> None:
    """Return once the broker answers a metadata request; raise TimeoutError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2_000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka at {bootstrap_servers} did not answer: {exc}") from exc
            await asyncio.sleep(0.1)
        finally:
            await admin.close()


async def partition_drift(bootstrap_servers: str,
                          topics: Iterable[tuple[str, int]]) -> list[str]:
    """Topics whose partition count differs from the registry's, one sentence each.

    `ensure_topics` leaves existing topics alone, so a registry change of partitions reaches no
    broker by itself: fewer partitions than the registry caps consumers below what was planned;
    more is harmless but not what the keys' spread was sized for. Growing a topic moves keys
    to other partitions (ordering per unit breaks for the records in flight), so it is an
    operator's decision, never automatic."""
    wanted = dict(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_topics([n for n in wanted if n in set(
            await admin.list_topics())])
    finally:
        await admin.close()
    drift = []
    for topic in described:
        have = len(topic.get("partitions", ()))
        if topic.get("error_code", 0) == 0 and have != wanted[topic["topic"]]:
            drift.append(f"{topic['topic']} has {have} partitions, the registry says "
                         f"{wanted[topic['topic']]}")
    return sorted(drift)

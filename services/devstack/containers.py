"""Infrastructure in containers: Apache Kafka (KRaft) and PostgreSQL, where a Docker engine runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

KAFKA_IMAGE = os.environ.get("THIDUA_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
POSTGRES_IMAGE = os.environ.get("THIDUA_POSTGRES_IMAGE", "postgres:17")


def docker_available(timeout_s: int = 2) -> bool:
    """True when a Docker engine answers a ping within timeout_s."""
    try:
        import docker

        client = docker.from_env(timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextmanager
def kafka_container() -> Iterator[str]:
    from testcontainers.community.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@contextmanager
def postgres_container() -> Iterator[str]:
    from testcontainers.community.postgres import PostgresContainer

    with PostgresContainer(POSTGRES_IMAGE, dbname="thidua", driver=None) as postgres:
        yield postgres.get_connection_url()


@contextmanager
def containers(need_kafka: bool, need_postgres: bool) -> Iterator[tuple[str | None, str | None]]:
    with ExitStack() as stack:
        kafka = stack.enter_context(kafka_container()) if need_kafka else None
        database = stack.enter_context(postgres_container()) if need_postgres else None
        yield kafka, database

"""A broker and a database of one test's own, for tests that count every event of a run: a
fresh tansu broker (in memory, seconds to start) and a new database on the session's
PostgreSQL server, so nothing another test publishes or stores is counted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.devstack.blocking import run_blocking
from services.devstack.embedded import tansu_broker
from services.devstack.infrastructure import Infrastructure
from services.devstack.topics import all_topic_specs, ensure_topics


def database_named(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _create_database(url: str, name: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@contextmanager
def private_infrastructure(shared: Infrastructure, workdir: Path) -> Iterator[Infrastructure]:
    workdir.mkdir(parents=True, exist_ok=True)
    with tansu_broker(workdir / "tansu.log") as kafka:
        run_blocking(ensure_topics(kafka, all_topic_specs()))
        name = f"thidua_{uuid.uuid4().hex[:10]}"
        run_blocking(_create_database(shared.database_url, name))
        yield Infrastructure(kafka, database_named(shared.database_url, name), "embedded")

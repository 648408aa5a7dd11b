"""A command run once per Idempotency-Key on real PostgreSQL (`services/runtime/command_runs.py`):
the first answer is kept with the change, a retry replays it, a reused key with another command
is refused, a refused command keeps no key, and concurrent runs with one key commit once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from pydantic import BaseModel

from services.runtime import command_runs
from services.runtime.db import open_schema
from services.runtime.domain_errors import Conflict
from services.runtime.idempotency import REPLAYED_HEADER, IdempotencyKeyReused

pytestmark = pytest.mark.integration

_TABLE = (Path(__file__).resolve().parents[3]
          / "services/awards/migrations/0004_idempotency_keys.sql")


@pytest.fixture(scope="module")
async def pool(database_url):
    schema = f"command_runs_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, max_size=4)
    await pool.execute(_TABLE.read_text())
    await pool.execute("CREATE TABLE done (n int NOT NULL)")
    yield pool
    await pool.close()
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


@pytest.fixture(autouse=True)
async def empty_tables(pool):
    await pool.execute("TRUNCATE idempotency_keys, done")


class Answer(BaseModel):
    n: int


def doing(n: int):
    async def work(conn: asyncpg.Connection) -> Answer:
        await conn.execute("INSERT INTO done VALUES ($1)", n)
        return Answer(n=n)
    return work


async def done(pool) -> list[int]:
    return [r["n"] for r in await pool.fetch("SELECT n FROM done ORDER BY n")]


async def test_a_retry_replays_the_first_answer_byte_for_byte_and_changes_nothing(pool):
    first = await command_runs.run(pool, "k-1", "f", 201, doing(1))
    again = await command_runs.run(pool, "k-1", "f", 201, doing(2))
    assert (first.status_code, first.body) == (201, b'{"n":1}')
    assert REPLAYED_HEADER not in first.headers
    assert (again.status_code, again.body) == (201, b'{"n":1}')
    assert again.headers[REPLAYED_HEADER] == "true"
    assert await done(pool) == [1]


async def test_the_key_with_another_command_is_refused(pool):
    await command_runs.run(pool, "k-1", "f", 200, doing(1))
    with pytest.raises(IdempotencyKeyReused):
        await command_runs.run(pool, "k-1", "other", 200, doing(2))
    assert await done(pool) == [1]


async def test_without_a_key_every_run_runs(pool):
    for n in (1, 2):
        answer = await command_runs.run(pool, None, "f", 201, doing(n))
        assert answer.body == f'{{"n":{n}}}'.encode()
    assert await done(pool) == [1, 2]
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_a_refused_command_keeps_no_key(pool):
    async def refused(conn):
        await conn.execute("INSERT INTO done VALUES (0)")
        raise Conflict("busy", "try again")

    with pytest.raises(Conflict):
        await command_runs.run(pool, "k-1", "f", 201, refused)
    answer = await command_runs.run(pool, "k-1", "f", 201, doing(1))
    assert REPLAYED_HEADER not in answer.headers
    assert await done(pool) == [1]


async def test_run_once_tells_a_replay_apart(pool):
    assert await command_runs.run_once(pool, "k-1", "f", 202, doing(1)) == (b'{"n":1}', None)
    body, kept = await command_runs.run_once(pool, "k-1", "f", 202, doing(2))
    assert body == b""
    assert (kept.key, kept.fingerprint, kept.status_code, kept.body) == (
        "k-1", "f", 202, b'{"n":1}')


async def test_concurrent_runs_with_one_key_commit_once_and_answer_alike(pool):
    go = asyncio.Event()

    def waiting(n: int):
        async def work(conn):
            await conn.execute("INSERT INTO done VALUES ($1)", n)
            await go.wait()
            return Answer(n=n)
        return work

    runs = [asyncio.create_task(command_runs.run(pool, "k-1", "f", 201, waiting(n)))
            for n in (1, 2)]
    await asyncio.sleep(0.2)
    go.set()
    answers = await asyncio.gather(*runs)
    assert answers[0].body == answers[1].body
    assert len(await done(pool)) == 1


async def test_a_command_refused_while_another_with_its_key_commits_answers_as_that_one(pool):
    first_in, first_done = asyncio.Event(), asyncio.Event()

    async def first(conn):
        await conn.execute("INSERT INTO done VALUES (1)")
        first_in.set()
        await asyncio.sleep(0.2)
        return Answer(n=1)

    async def second(conn):
        await first_done.wait()
        raise Conflict("already_done", "the first one did it")

    async def run_first():
        try:
            return await command_runs.run(pool, "k-1", "f", 201, first)
        finally:
            first_done.set()

    one = asyncio.create_task(run_first())
    await first_in.wait()
    two = await command_runs.run(pool, "k-1", "f", 201, second)
    assert (await one).body == two.body == b'{"n":1}'
    assert two.headers[REPLAYED_HEADER] == "true"

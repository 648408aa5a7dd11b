"""The session's broker and database work as the services will use them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.devstack.embedded import server_settings
from services.devstack.topics import ensure_topics
from tests.support.ports import free_base_port

pytestmark = pytest.mark.integration


async def describe(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
    finally:
        await admin.close()


async def test_every_topic_exists_with_its_partition_count(kafka_bootstrap_servers, topic_specs):
    described = await describe(kafka_bootstrap_servers, [name for name, _ in topic_specs])
    assert described == dict(topic_specs)


async def test_ensure_topics_is_idempotent_and_creates_only_what_is_missing(
    kafka_bootstrap_servers, topic_specs
):
    extra = f"test.infra.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [*topic_specs, (extra, 2)])
    await ensure_topics(kafka_bootstrap_servers, [*topic_specs, (extra, 2)])
    described = await describe(kafka_bootstrap_servers, [extra, topic_specs[0][0]])
    assert described == {extra: 2, topic_specs[0][0]: topic_specs[0][1]}


async def test_a_produced_record_is_consumed(kafka_bootstrap_servers):
    topic = f"test.infra.roundtrip.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"hello": "thidua"}', key=b"u-1",
                                     headers=[("content-type", b"application/cloudevents+json")])
    finally:
        await producer.stop()
    # Assigned, not subscribed: a new consumer group costs ~5 s to join on tansu.
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"u-1", b'{"hello": "thidua"}')
    assert dict(record.headers)["content-type"] == b"application/cloudevents+json"


async def test_postgres_answers(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        assert (await conn.fetchval("select version()")).startswith("PostgreSQL")
    finally:
        await conn.close()


async def test_the_embedded_server_runs_with_the_settings_sized_to_the_machine(infrastructure):
    if infrastructure.kind != "embedded" or os.environ.get("DATABASE_URL"):
        pytest.skip("only the embedded server is configured by thidua")
    wanted = server_settings()
    conn = await asyncpg.connect(infrastructure.database_url)
    try:
        for name in ("shared_buffers", "wal_buffers", "max_wal_size", "maintenance_work_mem"):
            assert await conn.fetchval(
                "SELECT pg_size_bytes(current_setting($1)) = pg_size_bytes($2)",
                name, wanted[name]), (name, await conn.fetchval("SELECT current_setting($1)", name))
    finally:
        await conn.close()


# `thidua up` with stand-in services that only answer /readyz: the process handling is under test.
STUB_SERVICE = (
    "import http.server, os, sys\n"
    "port = int(os.environ[sys.argv[1].upper() + '_HTTP_PORT'])\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self): self.send_response(200); self.end_headers()\n"
    "http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()\n"
)
RUN_UP_WITH_STUBS = (
    "import sys\n"
    "from services.devstack import supervisor as sup\n"
    f"sup.service_command = lambda name: [sys.executable, '-c', {STUB_SERVICE!r}, name]\n"
    "from services.devstack import cli\n"
    "sys.exit(cli.main(sys.argv[1:]))\n"
)


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True,
                         check=False)
    return {int(p) for p in out.stdout.split()}


def _postmaster_pid(database_url: str) -> int:
    socket_dir = database_url.split("host=")[1]
    return int((Path(socket_dir) / "postmaster.pid").read_text().split()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0]
    except (ProcessLookupError, FileNotFoundError):  # gone, maybe between the two looks
        return False
    return state != "Z"  # a zombie already reparented to init is as good as gone


def _start_until(args: list[str], marker: str) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["THIDUA_INFRA"] = "embedded"
    errors = tempfile.TemporaryFile(mode="w+")  # read back only when the marker never shows
    process = subprocess.Popen([sys.executable, "-c", RUN_UP_WITH_STUBS, *args], env=env,
                               stdout=subprocess.PIPE, stderr=errors, text=True,
                               start_new_session=True)
    seen = ""
    try:
        for line in process.stdout:
            seen += line
            if marker in line:
                return process, seen
        process.wait(60)
    except BaseException:  # pytest-timeout's interruption too: stop what it started
        with _stopped_at_the_end(process):
            raise
    errors.seek(0)
    raise AssertionError(f"no {marker!r} in output (exit {process.returncode}): {seen}\n"
                         f"stderr ends:\n{errors.read()[-4000:]}")


def _stops_cleanly_on_sigint(process: subprocess.Popen, started: set[int]) -> None:
    process.send_signal(signal.SIGINT)
    # Stopping four services, the broker and PostgreSQL takes a while on a busy machine.
    assert process.wait(120) == 0
    # What it started may be reaped a moment after it exits: wait for that, then look.
    deadline = time.monotonic() + 60
    while [pid for pid in started if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in started if _alive(pid)]


@contextmanager
def _stopped_at_the_end(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Whatever the test's outcome, nothing it started outlives it: Ctrl-C, then SIGKILL to the
    group (the services, tansu and PostgreSQL's watchdog die with their parent)."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_thidua_infra_prints_exports_and_leaves_nothing_behind_on_ctrl_c():
    process, out = _start_until(["infra"], "export KAFKA_BOOTSTRAP_SERVERS=")
    with _stopped_at_the_end(process):
        database_url = out.split("DATABASE_URL='")[1].split("'")[0]
        started = _children(process.pid) | {_postmaster_pid(database_url)}
        _stops_cleanly_on_sigint(process, started)


def test_thidua_up_runs_each_service_as_a_process_and_stops_all_on_ctrl_c():
    base = free_base_port()
    process, out = _start_until(["up", "--base-port", str(base)], "Ctrl-C stops everything.")
    with _stopped_at_the_end(process):
        with httpx.Client(timeout=30) as client:
            assert [client.get(f"http://127.0.0.1:{base + 1 + i}/readyz").status_code
                    for i in range(4)] == [200] * 4
        started = _children(process.pid)
        assert len(started) >= 6  # four services, tansu and the postmaster watchdog
        started.add(_postmaster_pid(out.split("postgresql  ")[1].split()[0]))
        _stops_cleanly_on_sigint(process, started)

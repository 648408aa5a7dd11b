"""`thidua scoring --role worker` and `--role api` as two processes share one schema: the worker
applies each event once, the API answers from what it applied."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts import EventDecodeError, decode_event, encode_event
from contracts.events.initiatives import InitiativeAuthor
from contracts.events.rules import ScoringRules
from contracts.topics import INITIATIVES, SCORES
from services.devstack.processes import free_port
from tests.support.events import initiative_submitted
from tests.support.identity import ADMIN, auth_settings
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration
CREDIT = ScoringRules().participation_points


class ScoringProcess:
    def __init__(self, role: str, env: dict[str, str], logs: Path) -> None:
        self.role, self.port, self.log_path = role, free_port(), logs / f"scoring-{role}.log"
        self.env = env
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.devstack.cli", "scoring", "--role", role],
                env=env | {"SCORING_HTTP_PORT": str(self.port)}, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return f"\n--- scoring --role {self.role} ---\n" + self.log_path.read_text()[-3000:]

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def scoring_env(infrastructure) -> dict[str, str]:
    """Only scoring's own prefixed variables: the shared unprefixed ones are not needed."""
    run = uuid.uuid4().hex[:8]
    inherited = {k: v for k, v in os.environ.items()
                 if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL") and not k.startswith("SCORING_")}
    return inherited | {
        "SCORING_KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
        "SCORING_DATABASE_URL": infrastructure.database_url,
        "SCORING_DB_SCHEMA": f"scoring_roles_{run}",
        "SCORING_CONSUMER_GROUP": f"thidua-scoring-roles-{run}",
        # Its events' source, told apart from other scoring consumers of this test session.
        "SCORING_SERVICE_NAME": f"scoring-roles-{run}",
        # A group (re)join costs half the session timeout on tansu.
        "SCORING_CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "SCORING_CONSUMER_HEARTBEAT_INTERVAL_MS": "500",
        "SCORING_RELAY_POLL_INTERVAL_MS": "50",
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    } | {f"SCORING_{name.upper()}": value for name, value in auth_settings().items()}


@pytest.fixture
def worker_and_api(scoring_env, tmp_path):
    started = [ScoringProcess("worker", scoring_env, tmp_path)]
    try:
        started.append(ScoringProcess("api", scoring_env, tmp_path))
        yield started
    finally:
        for process in started:
            process.stop()


async def ready(client: httpx.AsyncClient, process: ScoringProcess) -> dict:
    async def answer():
        assert process.process.poll() is None, f"exited {process.process.returncode}" + process.log_tail()
        try:
            response = await client.get(f"{process.url}/readyz")
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    try:
        return await wait_for(answer, interval=0.2)
    except TimeoutError as exc:
        raise AssertionError("not ready" + process.log_tail()) from exc


async def publish(bootstrap: str, events) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                INITIATIVES.name, encode_event(event), key=event.partition_key().encode(),
                headers=[("content-type", b"application/cloudevents+json")])
    finally:
        await producer.stop()


async def test_a_worker_and_an_api_process_apply_each_event_once_and_answer_from_it(
    worker_and_api, kafka_bootstrap_servers
):
    worker, api = worker_and_api
    unit_id = f"u-roles-{uuid.uuid4().hex[:8]}"

    def submitted(author: str):
        return initiative_submitted(unit_id=unit_id, authors=[
            InitiativeAuthor(member_id=author, full_name="Lê Thị Hoa", direct_worker=True)])

    originals = [submitted(f"m-roles-{i}") for i in range(5)]
    last = submitted("m-roles-last")
    # Participation credit for the unit per event and for each event's author, counted once.
    expected = {unit_id: 6 * CREDIT, "m-roles-last": CREDIT} | {f"m-roles-{i}": CREDIT
                                                                 for i in range(5)}
    async with httpx.AsyncClient(timeout=30.0) as client:  # a loaded machine answers late
        worker_checks = (await ready(client, worker))["checks"]
        api_checks = (await ready(client, api))["checks"]
        assert (worker_checks["consumer"], worker_checks["outbox_relay"]) == ("ok", "ok")
        assert "consumer" not in api_checks, api_checks  # ready with no consumer at all

        # Every event redelivered, then one more on the same partition: once its score shows,
        # the redeliveries before it have been handled too.
        await publish(kafka_bootstrap_servers, [*originals, *originals, last])

        async def scores():
            response = await client.get(f"{api.url}/units/{unit_id}/scores", headers=ADMIN)
            assert response.status_code == 200, response.text
            found = {row["subject_id"]: float(row["total_points"]) for row in response.json()}
            return found if "m-roles-last" in found else None

        try:
            found = await wait_for(scores, interval=0.2)
        except TimeoutError as exc:
            raise AssertionError("no scores" + worker.log_tail() + api.log_tail()) from exc
        assert found == expected

        worker_stats = (await client.get(f"{worker.url}/stats")).json()
        api_stats = (await client.get(f"{api.url}/stats")).json()
    assert worker_stats["consumer"]["duplicates"] >= 5
    assert api_stats.get("consumer") is None and api_stats.get("relay") is None

    # The worker's relay announced the changes once: their deltas add up to the totals (a
    # batch may coalesce a subject's changes), and no event was published twice.
    async def announced():
        changes = {}
        for record in await read_topic(kafka_bootstrap_servers, SCORES.name):
            try:
                event = decode_event(record.value)
            except EventDecodeError:  # other tests' poison records
                continue
            source = f"/thidua/{worker.env['SCORING_SERVICE_NAME']}"
            if getattr(event.data, "unit_id", None) == unit_id and event.source == source:
                changes.setdefault(event.id, []).append(event.data)
        deltas = {}
        for change in (c for published in changes.values() for c in published):
            deltas[change.subject_id] = deltas.get(change.subject_id, 0) + change.points_delta
        complete = all(deltas.get(subject, 0) >= points for subject, points in expected.items())
        return (changes, deltas) if complete else None

    changes, deltas = await wait_for(announced, interval=0.2)
    assert {subject: float(points) for subject, points in deltas.items()} == expected
    assert all(len(published) == 1 for published in changes.values())

"""`thidua events tail` against the real broker: it prints what was published, in the format
asked, filtered as asked, and shows a record that is not a CloudEvent instead of skipping it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from contracts import CLOUDEVENTS_CONTENT_TYPE, encode_event
from services.devstack.topics import ensure_topics
from services.ops.events_tail import TailOptions, tail
from services.ops.topic_reader import TopicNotFound
from tests.support.events import initiative_submitted

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def published(kafka_bootstrap_servers):
    """A topic of its own with two initiatives of different districts and one broken record."""
    topic = f"thidua.tailtest.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [(topic, 3)])
    first = initiative_submitted(unit_id="u-dongda-thcs-langthuong")
    second = initiative_submitted(unit_id="u-caugiay-bv-e").model_copy(
        update={"district": "u-phuong-nghiado"})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in (first, second):
            await producer.send_and_wait(
                topic, encode_event(event), key=event.partition_key().encode(),
                headers=[("content-type", CLOUDEVENTS_CONTENT_TYPE.encode())])
        await producer.send_and_wait(topic, b"\xff not json", key=b"u-broken")
    finally:
        await producer.stop()
    return topic, first, second


async def run_tail(bootstrap, topic, **options) -> list[str]:
    out = io.StringIO()
    await tail(TailOptions(topic=topic, bootstrap_servers=bootstrap, from_beginning=True,
                           follow=False, **options), out)
    return out.getvalue().splitlines()


async def test_json_lines_carry_every_event_and_the_broken_record(published,
                                                                 kafka_bootstrap_servers):
    topic, first, second = published
    lines = await run_tail(kafka_bootstrap_servers, topic, output="json", headers=True)
    documents = [json.loads(line) for line in lines]
    events = {d["event"]["id"]: d for d in documents if d["event"]}
    assert set(events) == {first.id, second.id}
    assert events[first.id]["key"] == "u-dongda-thcs-langthuong"
    assert events[first.id]["headers"] == {"content-type": "application/cloudevents+json"}
    assert events[first.id]["event"]["data"]["initiative_id"] == first.data.initiative_id
    broken = [d for d in documents if d["event"] is None]
    assert [(d["key"], d["value"][-8:]) for d in broken] == [("u-broken", "not json")]


async def test_filters_by_type_and_district_and_stops_at_the_limit(published,
                                                                  kafka_bootstrap_servers):
    topic, _, second = published
    only = await run_tail(kafka_bootstrap_servers, topic, output="json",
                          types=frozenset({"thidua.initiative.submitted.v1"}),
                          district="u-phuong-nghiado")
    assert [json.loads(line)["event"]["id"] for line in only] == [second.id]
    assert len(await run_tail(kafka_bootstrap_servers, topic, output="json", limit=1)) == 1
    none = await run_tail(kafka_bootstrap_servers, topic, types=frozenset({"thidua.x.v1"}))
    assert none == []


async def test_pretty_output_shows_type_subject_district_and_data(published,
                                                                 kafka_bootstrap_servers):
    topic, first, _ = published
    text = "\n".join(await run_tail(kafka_bootstrap_servers, topic))
    assert f"thidua.initiative.submitted.v1  subject=None  district={first.district}" in text
    assert f"id={first.id}" in text
    assert first.data.title in text  # Vietnamese kept readable, not \\u-escaped
    assert "(not a CloudEvent)" in text


async def test_an_unknown_topic_is_named(kafka_bootstrap_servers):
    with pytest.raises(TopicNotFound, match="thidua.nothing.v1"):
        await run_tail(kafka_bootstrap_servers, "thidua.nothing.v1")


async def test_the_command_reads_a_topic_by_its_family_name(kafka_bootstrap_servers):
    """As an integrator types it: `thidua events tail <family> --from-beginning --no-follow`."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        event = initiative_submitted(unit_id=f"u-tail-{uuid.uuid4().hex[:6]}")
        await producer.send_and_wait("thidua.initiatives.v1", encode_event(event),
                                     key=event.partition_key().encode())
    finally:
        await producer.stop()
    done = subprocess.run(
        [sys.executable, "-m", "services.devstack.cli", "events", "tail", "initiatives",
         "--from-beginning", "--no-follow", "--json", "--limit", "1",
         "--bootstrap-servers", kafka_bootstrap_servers],
        capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["topic"] == "thidua.initiatives.v1"
    missing = subprocess.run(
        [sys.executable, "-m", "services.devstack.cli", "events", "tail", "initiatives"],
        capture_output=True, text=True, timeout=180, check=False,
        env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode == 2 and "KAFKA_BOOTSTRAP_SERVERS" in missing.stderr

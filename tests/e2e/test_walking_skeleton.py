"""One initiative travels registration → scoring → awards → notify on the real broker and database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest

from contracts import decode_event
from contracts.topics import AWARDS, INITIATIVES, NOTIFICATIONS, SCORES
from services.devstack.demo import DEMO_INITIATIVE
from tests.support.identity import bearer
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration
SCHEMAS = Path(__file__).parents[2] / "contracts" / "schemas"


def submission(member_id: str, **overrides) -> dict:
    """The demo's initiative (`thidua up --demo`), authored by `member_id`."""
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": member_id}
    return DEMO_INITIATIVE | {"authors": [author]} | overrides


async def test_an_initiative_reaches_its_authors_inbox_with_one_correlation_id(clients):
    """Played as the people who do it: the school union's official submits and reads the
    unit's scores; the author reads her inbox and her eligibility."""
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    official = bearer("grassroots_official", unit=DEMO_INITIATIVE["unit_id"])
    author = bearer("member", member=member_id)
    correlation_id = str(uuid.uuid4())
    answer = await clients["registration"].post(
        "/initiatives", json=submission(member_id),
        headers={"X-Correlation-ID": correlation_id} | official)
    assert answer.status_code == 202, answer.text
    assert answer.json()["correlation_id"] == correlation_id

    async def inbox():
        found = (await clients["notify"].get(f"/members/{member_id}/notifications",
                                             headers=author)).json()
        return [n for n in found if n["correlation_id"] == correlation_id]

    notifications = await wait_for(inbox, timeout=60)
    assert {n["subject"] for n in notifications} >= {
        "Bạn chưa đủ điều kiện xét danh hiệu “Công nhân giỏi” cấp cơ sở"
    }
    eligibility = (await clients["awards"].get(f"/eligibility/member/{member_id}",
                                               headers=author)).json()
    assert {(e["title"], e["eligible"]) for e in eligibility} == {
        ("advanced_labourer", True), ("good_worker", False), ("creative_labour", False)
    }
    assert {e["title"]: ([c["text"] for c in e["criteria"]], e["provisional"])
            for e in eligibility} == {
        "advanced_labourer": (["points reached (2 of 2)"], True),
        "good_worker": (["18 points short (2 of 20)"], True),
        "creative_labour": (["needs 1 more accepted initiative (0 of 1)"], True),
    }
    path = (await clients["awards"].get(f"/members/{member_id}/path-to-titles",
                                        headers=author)).json()
    remaining = {p["title"]: p["remaining"] for p in path}
    assert remaining["advanced_labourer"] == []
    assert remaining["good_worker"] == ["18 points short (2 of 20)"]
    assert remaining["creative_labour"] == ["needs 1 more accepted initiative (0 of 1)"]
    assert remaining["good_deeds"] == [
        "no score criteria: decided on nomination by peers (bình xét)"]
    assert {p["eligible"] for p in path if p["title"] == "good_deeds"} == {None}
    scores = (await clients["scoring"].get("/units/u-dongda-thcs-langthuong/scores",
                                           headers=official)).json()
    assert any(s["subject_id"] == member_id and float(s["total_points"]) == 2 for s in scores)


async def test_published_events_validate_against_the_generated_schemas(clients, kafka_bootstrap_servers):
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    correlation_id = str(uuid.uuid4())
    await clients["registration"].post(
        "/initiatives", json=submission(member_id), headers={"X-Correlation-ID": correlation_id}
    )

    async def delivered():
        records = await read_topic(kafka_bootstrap_servers, NOTIFICATIONS.name)
        return [r for r in records if json.loads(r.value)["correlationid"] == correlation_id]

    await wait_for(delivered, timeout=60)
    seen_types = set()
    for topic in (INITIATIVES, SCORES, AWARDS, NOTIFICATIONS):
        for record in await read_topic(kafka_bootstrap_servers, topic.name):
            document = json.loads(record.value)
            if document.get("correlationid") != correlation_id:
                continue
            assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
            schema = json.loads((SCHEMAS / f"{document['type']}.json").read_text())
            jsonschema.validate(document, schema)
            assert record.key == decode_event(record.value).partition_key().encode()
            seen_types.add(document["type"])
    assert seen_types == {
        "thidua.initiative.submitted.v1",
        "thidua.score.changed.v1",
        "thidua.award.eligibility_changed.v1",
        "thidua.notification.delivered.v1",
    }


async def test_a_bad_submission_is_refused_naming_the_field_and_stores_nothing(clients):
    body = submission("m-bad", claimed_benefit_vnd=-5, initiative_id=f"ini-{uuid.uuid4().hex[:8]}")
    answer = await clients["registration"].post("/initiatives", json=body)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["claimed_benefit_vnd"]
    missing = await clients["registration"].get(f"/initiatives/{body['initiative_id']}")
    assert missing.status_code == 404


async def test_submitting_the_same_initiative_twice_conflicts_and_keeps_the_first(clients):
    body = submission("m-dup", initiative_id=f"ini-{uuid.uuid4().hex[:8]}")
    first = await clients["registration"].post("/initiatives", json=body)
    again = await clients["registration"].post("/initiatives", json=body | {"title": "Khác hẳn"})
    assert (first.status_code, again.status_code) == (202, 409)
    assert again.json()["errors"][0]["field"] == "initiative_id"
    stored = (await clients["registration"].get(f"/initiatives/{body['initiative_id']}")).json()
    assert stored["title"] == body["title"] and stored["event_id"] == first.json()["event_id"]


async def test_every_service_is_alive_and_ready_with_each_dependency_checked(clients):
    for name, client in clients.items():
        assert (await client.get("/healthz")).json() == {"status": "alive", "service": name}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        # Every service consumes: at least the org events of its directory.
        workers = ({"email_sender", "webhook_sender", "digests", "retention"}
                   if name == "notify" else set())
        assert set(checks) == {"database", "kafka", "outbox_relay", "consumer"} | workers
        assert set(checks.values()) == {"ok"}

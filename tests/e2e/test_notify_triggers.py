"""Who hears of what, on the real broker: an initiative submitted and reviewed through
registration's API reaches its author and the school union's chair in notify (the chair also by
e-mail, at the address their official imported), and a city-wide webhook subscription receives
the review, signed; the outcomes are announced and the address travels on no topic."""

from __future__ import annotations

import json
import uuid

import pytest

from contracts import decode_event
from contracts.topics import ALL_TOPICS
from services.devstack.demo_directory import CITY, SCHOOL
from services.notify import signing
from tests.e2e.test_notify_contacts import submission
from tests.support.identity import bearer
from tests.support.kafka_log import read_topic, wait_for
from tests.support.webhook_receiver import running_receiver

pytestmark = pytest.mark.integration
CHAIR = "m-lt-0012"  # the school union's chair (a union officer)
REVIEWED = "thidua.initiative.reviewed.v1"


async def test_a_review_reaches_the_author_the_chair_and_a_city_wide_webhook(
        clients, smtp, kafka_bootstrap_servers, directory_seeded):
    notify = clients["notify"]
    address = f"chair.{uuid.uuid4().hex[:8]}@private.example.vn"
    imported = await notify.post(
        f"/units/{SCHOOL}/contacts/import", content=f"member_id,email\n{CHAIR},{address}\n",
        headers=bearer("grassroots_official", unit=SCHOOL) | {"content-type": "text/csv"})
    assert imported.json()["changed"] == 1, imported.text
    async with running_receiver() as receiver:
        created = await notify.post(
            "/webhooks", headers=bearer("city_admin"),
            json={"url": receiver.url("/city"), "event_types": [REVIEWED], "unit_id": CITY})
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        author = f"m-{uuid.uuid4().hex[:8]}"  # a fresh author: other flows keep TEACHER's points
        body = submission(author)
        answer = await clients["registration"].post(
            "/initiatives", json=body, headers=bearer("grassroots_official", unit=SCHOOL))
        assert answer.status_code == 202, answer.text
        reviewed = await clients["registration"].post(
            f"/initiatives/{body['initiative_id']}/reviews",
            headers=bearer("council_reviewer", unit=SCHOOL),
            json={"outcome": "accepted", "grade": "B", "recognised_benefit_vnd": 1_000_000,
                  "level": "grassroots"})
        assert reviewed.status_code == 201, reviewed.text
        correlation_id = reviewed.json()["correlation_id"]

        async def heard(member_id: str):
            found = (await notify.get(
                f"/members/{member_id}/notifications?template=initiative_reviewed",
                headers=bearer("member", member=member_id))).json()
            return [n for n in found if n["correlation_id"] == correlation_id] or None

        [authored] = await wait_for(lambda: heard(author), timeout=60)
        [chair] = await wait_for(lambda: heard(CHAIR), timeout=60)
        assert "của bạn được công nhận cấp cơ sở, loại B" in authored["subject"]
        assert "của bạn" not in chair["subject"] and "được công nhận" in chair["subject"]

        async def hooked():
            return [r for r in receiver.received if r.path == "/city"] or None

        [delivery] = await wait_for(hooked, timeout=60)
        signing.verify(secret, delivery.body, delivery.headers)
        event = json.loads(delivery.body)
        assert (event["type"], event["correlationid"]) == (REVIEWED, correlation_id)
        await notify.delete(f"/webhooks/{created.json()['webhook_id']}",
                            headers=bearer("city_admin"))

    async def mailed():
        return [m for m in smtp.messages if m["X-Envelope-To"] == address] or None

    [mail] = await wait_for(mailed, timeout=60)
    assert "được công nhận cấp cơ sở, loại B" in mail["Subject"]

    async def announced():
        records = await read_topic(kafka_bootstrap_servers, "thidua.notifications.v1")
        found = [e for e in map(decode_event, (r.value for r in records))
                 if e.correlationid == correlation_id and e.data.channel in ("email", "webhook")]
        return found if len(found) >= 2 else None

    outcomes = await wait_for(announced, timeout=60)
    assert {e.data.channel for e in outcomes} == {"email", "webhook"}
    for topic in ALL_TOPICS:  # the imported address travels on no topic
        for name in (topic.name, f"{topic.name}.dlq"):
            for record in await read_topic(kafka_bootstrap_servers, name):
                raw = (record.value or b"") + (record.key or b"") + b"".join(
                    v for _, v in record.headers or ())
                assert address.encode() not in raw, name

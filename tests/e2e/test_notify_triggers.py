"""Who hears of what, on the real broker: an initiative submitted and reviewed through
registration's API reaches its author and the school union's chair in notify, and a city-wide
webhook subscription receives the review, signed."""

from __future__ import annotations

import json

import pytest

from services.devstack.demo_directory import CITY, SCHOOL, TEACHER
from services.notify import signing
from tests.e2e.test_notify_contacts import submission
from tests.support.identity import bearer
from tests.support.kafka_log import wait_for
from tests.support.webhook_receiver import running_receiver

pytestmark = pytest.mark.integration
CHAIR = "m-lt-0012"  # the school union's chair (a union officer)
REVIEWED = "thidua.initiative.reviewed.v1"


async def test_a_review_reaches_the_author_the_chair_and_a_city_wide_webhook(
        clients, directory_seeded):
    notify = clients["notify"]
    async with running_receiver() as receiver:
        created = await notify.post(
            "/webhooks", headers=bearer("city_admin"),
            json={"url": receiver.url("/city"), "event_types": [REVIEWED], "unit_id": CITY})
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        body = submission(TEACHER)
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

        [author] = await wait_for(lambda: heard(TEACHER), timeout=60)
        [chair] = await wait_for(lambda: heard(CHAIR), timeout=60)
        assert "của bạn được công nhận cấp cơ sở, loại B" in author["subject"]
        assert "của bạn" not in chair["subject"] and "được công nhận" in chair["subject"]

        async def hooked():
            return [r for r in receiver.received if r.path == "/city"] or None

        [delivery] = await wait_for(hooked, timeout=60)
        signing.verify(secret, delivery.body, delivery.headers)
        event = json.loads(delivery.body)
        assert (event["type"], event["correlationid"]) == (REVIEWED, correlation_id)
        await notify.delete(f"/webhooks/{created.json()['webhook_id']}",
                            headers=bearer("city_admin"))

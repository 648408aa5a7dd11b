"""A member's contacts through notify's API, an e-mail on the real broker, and no contact
detail on any topic."""

from __future__ import annotations

import uuid

import pytest

from contracts import decode_event
from contracts.topics import ALL_TOPICS
from services.devstack.demo import DEMO_INITIATIVE
from services.devstack.demo_directory import HOSPITAL, SCHOOL, TEACHER
from tests.support.identity import bearer
from tests.support.kafka_log import read_topic, wait_for

pytestmark = pytest.mark.integration


def submission(member_id: str) -> dict:
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": member_id}
    return DEMO_INITIATIVE | {"authors": [author],
                              "initiative_id": f"ini-{uuid.uuid4().hex[:12]}"}


async def test_a_member_keeps_their_contacts_and_preferences(clients, directory_seeded):
    me = bearer("member", member=TEACHER)
    put = await clients["notify"].put(f"/members/{TEACHER}/contacts", headers=me,
                                      json={"email": "Hoa.Le@Example.VN", "phone": "0912345678"})
    assert put.status_code == 200, put.text
    got = (await clients["notify"].get(f"/members/{TEACHER}/contacts", headers=me)).json()
    assert (got["email"], got["phone"]) == ("Hoa.Le@example.vn", "0912345678")
    prefs = await clients["notify"].put(f"/members/{TEACHER}/preferences", headers=me,
                                        json={"language": "en", "email": False})
    assert prefs.status_code == 200, prefs.text
    got = (await clients["notify"].get(f"/members/{TEACHER}/preferences", headers=me)).json()
    assert (got["language"], got["email"], got["in_app"]) == ("en", False, True)
    official = bearer("grassroots_official", unit=SCHOOL)
    seen = await clients["notify"].get(f"/members/{TEACHER}/contacts", headers=official)
    assert seen.status_code == 200
    other = bearer("grassroots_official", unit=HOSPITAL)
    hidden = await clients["notify"].get(f"/members/{TEACHER}/contacts", headers=other)
    assert hidden.status_code == 404


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"email": "not-an-address"}, "email", "value_error"),
    ({"email": "a@b"}, "email", "value_error"),
    ({"email": "ok@example.vn", "fax": "1"}, "fax", "extra_forbidden"),
    ({"email": 5}, "email", "string_type"),
    ({"email": "a\u0000b@example.vn"}, "email", "nul_character"),
    ({"phone": "call me"}, "phone", "string_pattern_mismatch"),
])
async def test_bad_contacts_are_refused_naming_the_field(clients, directory_seeded, body,
                                                         field, code):
    me = bearer("member", member=TEACHER)
    answer = await clients["notify"].put(f"/members/{TEACHER}/contacts", headers=me, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert (error["field"], error["code"]) == (field, code)


async def test_bad_preferences_are_refused_naming_the_field(clients, directory_seeded):
    me = bearer("member", member=TEACHER)
    answer = await clients["notify"].put(f"/members/{TEACHER}/preferences", headers=me,
                                         json={"language": "fr", "email": "yes"})
    assert answer.status_code == 422, answer.text
    assert {e["field"] for e in answer.json()["errors"]} == {"language", "email"}


async def test_an_author_with_an_email_is_mailed_and_no_topic_carries_a_contact(
        clients, smtp, kafka_bootstrap_servers, directory_seeded):
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    email, phone = f"{member_id}@private.example.vn", "+84 987 654 321"
    official = bearer("grassroots_official", unit=DEMO_INITIATIVE["unit_id"])
    saved = await clients["notify"].put(f"/members/{member_id}/contacts",
                                        headers=bearer("member", member=member_id),
                                        json={"email": email, "phone": phone})
    assert saved.status_code == 200, saved.text
    answer = await clients["registration"].post("/initiatives", json=submission(member_id),
                                                headers=official)
    assert answer.status_code == 202, answer.text
    correlation_id = answer.json()["correlation_id"]

    async def emailed():
        records = await read_topic(kafka_bootstrap_servers, "thidua.notifications.v1")
        found = [e for e in map(decode_event, (r.value for r in records))
                 if e.correlationid == correlation_id and e.data.channel == "email"]
        return found if len(found) >= 2 else None  # one per title the author was assessed for

    announced = await wait_for(emailed, timeout=60)
    assert {e.type for e in announced} == {"thidua.notification.delivered.v1"}
    mailed = [m for m in smtp.messages if m["X-Envelope-To"] == email]
    assert len(mailed) == len(announced)
    assert {m["Message-ID"] for m in mailed} == {
        f"<{e.data.notification_id}@thidua.local>" for e in announced}
    for topic in ALL_TOPICS:
        for name in (topic.name, f"{topic.name}.dlq"):
            for record in await read_topic(kafka_bootstrap_servers, name):
                raw = (record.value or b"") + (record.key or b"") + b"".join(
                    v for _, v in record.headers or ())
                assert email.encode() not in raw, name
                assert b"987 654 321" not in raw and b"private.example" not in raw, name

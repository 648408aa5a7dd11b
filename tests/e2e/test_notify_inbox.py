"""A member's in-app inbox over notify's API: pages with a cursor, filters, counts, read marks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.devstack.demo_directory import HOSPITAL, SCHOOL
from tests.support.identity import bearer

pytestmark = pytest.mark.integration
MEMBER = "m-lt-0012"


@pytest.fixture
async def inbox(system, directory_seeded) -> list[str]:
    """Seven messages, newest first: three `phase_closed`, four `award_granted`."""
    pool = system["notify"].state.runtime.pool
    await pool.execute("DELETE FROM notifications WHERE recipient_id = $1", MEMBER)
    start = datetime(2025, 6, 2, 9, tzinfo=UTC)
    rows = [(f"n-{uuid.uuid4().hex[:10]}", "phase_closed" if i % 2 else "award_granted",
             start + timedelta(minutes=i)) for i in range(7)]
    await pool.executemany(
        """INSERT INTO notifications (notification_id, recipient_id, recipient_kind, channel,
               template, subject, body, source_event_id, correlation_id, created_at)
           VALUES ($1, $2, 'member', 'in_app', $3, 'Tiêu đề', 'Nội dung', $1, $1, $4)""",
        [(n, MEMBER, t, at) for n, t, at in rows])
    return [n for n, _, _ in reversed(rows)]


async def test_pages_follow_the_link_to_the_end_newest_first(clients, inbox):
    me = bearer("member", member=MEMBER)
    seen, url = [], f"/members/{MEMBER}/notifications?limit=3"
    while url:
        answer = await clients["notify"].get(url, headers=me)
        assert answer.status_code == 200, answer.text
        seen += [n["notification_id"] for n in answer.json()]
        link = answer.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert seen == inbox


async def test_filters_counts_and_read_marks(clients, inbox):
    notify, me = clients["notify"], bearer("member", member=MEMBER)
    base = f"/members/{MEMBER}/notifications"
    closed = (await notify.get(f"{base}?template=phase_closed", headers=me)).json()
    assert len(closed) == 3
    assert (await notify.get(f"{base}/counts", headers=me)).json() == {
        "member_id": MEMBER, "total": 7, "unread": 7}
    marked = await notify.post(f"{base}/read", headers=me,
                               json={"notification_ids": [*inbox[:2], "n-not-mine"]})
    assert marked.status_code == 200, marked.text
    assert (marked.json()["marked"], marked.json()["unread"]) == (2, 5)
    again = await notify.post(f"{base}/read", headers=me, json={"notification_ids": inbox[:2]})
    assert again.json()["marked"] == 0
    unread = (await notify.get(f"{base}?unread=true", headers=me)).json()
    assert [n["notification_id"] for n in unread] == inbox[2:]
    read = (await notify.get(f"{base}?unread=false", headers=me)).json()
    assert all(n["read_at"] for n in read) and len(read) == 2
    everything = await notify.post(f"{base}/read", headers=me, json={"all": True})
    assert (everything.json()["marked"], everything.json()["unread"]) == (5, 0)


@pytest.mark.parametrize(("query_or_body", "field"), [
    ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
    ({"cursor": "***"}, "cursor"),
    ({"unread": "perhaps"}, "unread"),
    ({"json": {"all": True, "notification_ids": ["n-1"]}}, None),
    ({"json": {"all": False}}, None),
    ({"json": {"all": True, "extra": 1}}, "extra"),
    ({"json": {"notification_ids": ["n\u00001"]}}, None),
])
async def test_bad_cursors_filters_and_bodies_are_refused_naming_the_field(
        clients, inbox, query_or_body, field):
    me = bearer("member", member=MEMBER)
    base = f"/members/{MEMBER}/notifications"
    if "json" in query_or_body:
        answer = await clients["notify"].post(f"{base}/read", headers=me,
                                              json=query_or_body["json"])
    else:
        answer = await clients["notify"].get(base, headers=me, params=query_or_body)
    assert answer.status_code == 422, answer.text
    if field:
        assert any(e["field"].endswith(field) for e in answer.json()["errors"]), answer.text


async def test_another_member_or_an_official_cannot_touch_the_inbox(clients, inbox):
    notify = clients["notify"]
    base = f"/members/{MEMBER}/notifications"
    other = bearer("member", member="m-lt-0007")
    assert (await notify.get(base, headers=other)).status_code == 404
    assert (await notify.post(f"{base}/read", headers=other, json={"all": True})
            ).status_code == 404
    official = bearer("grassroots_official", unit=SCHOOL)
    assert (await notify.post(f"{base}/read", headers=official, json={"all": True})
            ).status_code == 403
    assert (await notify.get(f"{base}/counts", headers=bearer("grassroots_official",
                                                             unit=HOSPITAL))).status_code == 403

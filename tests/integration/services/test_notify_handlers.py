"""Notify's handler through the real consumer and PostgreSQL: members' inboxes and deliveries."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import CloudEvent, new_event
from contracts.events.awards import AwardEligibilityChanged
from services.notify.handlers import handlers
from services.notify.repository import NotifyRepository
from tests.support.handler_harness import HARNESS_NOW, ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

NOTIFY = ServiceUnderTest(
    "notify", handlers, NotifyRepository,
    Path(__file__).parents[3] / "services" / "notify" / "migrations",
)


@pytest.fixture(scope="module")
async def notify(database_url):
    async with open_harness(database_url, NOTIFY) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(notify):
    await notify.reset()


def eligibility_changed(
    subject_id: str = "m-1", *, kind: str = "member", eligible: bool = True,
    title: str = "good_worker", reason: str = "criteria_met", correlation_id: str | None = None,
) -> CloudEvent:
    data = AwardEligibilityChanged(
        unit_id="u-det-8-3", campaign_id="cmp-2025-hn", phase_id="cmp-2025-hn-p1",
        subject_kind=kind, subject_id=subject_id, title=title, level="grassroots",
        eligible=eligible, reason=reason,
    )
    return new_event(data, source="/thidua/awards", district="d-dongda",
                     correlation_id=correlation_id, subject=subject_id)


async def inbox_of(harness, recipient_id: str) -> list[dict]:
    rows = await harness.pool.fetch(
        """SELECT notification_id, recipient_kind, channel, template, subject, body,
                  source_event_id, correlation_id
           FROM notifications WHERE recipient_id = $1 ORDER BY created_at""", recipient_id)
    return [dict(r) for r in rows]


async def test_a_members_eligibility_change_puts_one_notification_in_their_inbox(notify):
    event = eligibility_changed("m-1", correlation_id="flow-7")
    await notify.apply(event)
    [message] = await inbox_of(notify, "m-1")
    assert {k: v for k, v in message.items() if k not in ("notification_id", "body")} == {
        "recipient_kind": "member", "channel": "in_app", "template": "award_eligibility_changed",
        "subject": "Bạn đủ điều kiện xét danh hiệu “Công nhân giỏi” cấp cơ sở",
        "source_event_id": event.id, "correlation_id": "flow-7",
    }
    assert message["body"].startswith(message["subject"] + ": đã đạt các tiêu chí.")


async def test_a_delivered_notification_is_announced_caused_by_the_eligibility_change(notify):
    event = eligibility_changed("m-1", correlation_id="flow-7")
    await notify.apply(event)
    [message] = await inbox_of(notify, "m-1")
    [delivered] = await notify.emitted()
    assert (delivered.type, delivered.source, delivered.subject) == (
        "thidua.notification.delivered.v1", "/thidua/notify", "m-1")
    assert (delivered.causationid, delivered.correlationid, delivered.district) == (
        event.id, "flow-7", "d-dongda")
    assert delivered.data.model_dump(exclude={"subject"}) == {
        "notification_id": message["notification_id"], "recipient_id": "m-1",
        "recipient_kind": "member", "channel": "in_app",
        "template": "award_eligibility_changed", "source_event_id": event.id,
        "attempts": 1, "delivered_at": HARNESS_NOW,
    }
    assert delivered.partition_key() == "m-1"  # keyed by recipient


async def test_a_member_no_longer_eligible_is_told_why(notify):
    await notify.apply(eligibility_changed("m-1", eligible=False, title="creative_labour",
                                           reason="accepted_initiatives_missing"))
    [message] = await inbox_of(notify, "m-1")
    assert message["subject"] == (
        "Bạn chưa đủ điều kiện xét danh hiệu “Lao động sáng tạo” cấp cơ sở")
    assert "chưa có sáng kiến được công nhận" in message["body"]


async def test_a_units_eligibility_change_notifies_nobody(notify):
    await notify.apply(eligibility_changed("u-det-8-3", kind="unit", title="certificate_of_merit"))
    assert await notify.pool.fetchval("SELECT count(*) FROM notifications") == 0
    assert await notify.emitted() == []
    assert await notify.pool.fetchval("SELECT count(*) FROM inbox") == 1  # applied, not skipped


async def test_the_same_event_twice_in_one_batch_delivers_once(notify):
    event = eligibility_changed("m-1")
    await notify.apply(event, event)
    assert len(await inbox_of(notify, "m-1")) == 1
    assert len(await notify.emitted()) == 1


async def test_the_same_event_redelivered_in_a_later_batch_delivers_once(notify):
    event = eligibility_changed("m-1")
    record = notify.record(event)
    await notify.apply(record)
    await notify.apply(record)
    await notify.apply(event)  # republished at a later offset
    assert len(await inbox_of(notify, "m-1")) == 1
    assert len(await notify.emitted()) == 1


async def test_an_event_replayed_after_its_inbox_entry_was_pruned_delivers_once(notify):
    event = eligibility_changed("m-1")
    await notify.apply(event)
    await notify.pool.execute("DELETE FROM inbox")  # retention forgot it
    await notify.apply(event)
    assert len(await inbox_of(notify, "m-1")) == 1
    assert len(await notify.emitted()) == 1


async def test_the_notification_id_is_stable_for_an_event_recipient_and_channel(notify):
    event = eligibility_changed("m-1").model_copy(
        update={"id": "9f4b7c1e-2d3a-4b5c-8e6f-0a1b2c3d4e5f"})
    await notify.apply(event)
    # A fixed value: a changed derivation would re-send every notification on a replay.
    [message] = await inbox_of(notify, "m-1")
    assert message["notification_id"] == "87631263-d467-583d-ae8c-00faea1f091f"


async def test_each_member_of_a_batch_is_notified_of_their_own_change(notify):
    events = [eligibility_changed(m, correlation_id=f"flow-{m}") for m in ("m-1", "m-2", "m-3")]
    await notify.apply(*events)
    delivered = await notify.emitted()
    assert [(d.data.recipient_id, d.causationid, d.correlationid) for d in delivered] == [
        (e.data.subject_id, e.id, f"flow-{e.data.subject_id}") for e in events]
    assert len({d.data.notification_id for d in delivered}) == 3

"""Quiet hours, the daily digest and webhook scopes over the directory, on real PostgreSQL,
a real SMTP server (aiosmtpd) and a real HTTP receiver."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from contracts import new_event
from contracts.events.awards import AwardGranted
from services.notify import signing, webhook_store
from services.notify.digest import DigestBuilder, last_cutoff, lines_of
from services.notify.email_channel import EmailSender
from services.notify.member_store import put_contacts, put_preferences
from services.notify.settings import NotifySettings
from services.notify.webhook_channel import WebhookSender
from services.runtime.context import Envelopes
from tests.integration.services.test_notify_triggers import (
    CAMPAIGN,
    CITY,
    DISTRICT,
    FACTORY,
    NOTIFY_WITH_DIRECTORY,
    OTHER_DISTRICT,
    SCHOOL,
    TREE,
)
from tests.support.handler_harness import HARNESS_NOW, fixed_clock, open_harness
from tests.support.smtp import SmtpServer
from tests.support.webhook_receiver import running_receiver

pytestmark = pytest.mark.integration
GRANTED = "thidua.award.granted.v1"


@pytest.fixture(scope="module")
async def notify(database_url):
    async with open_harness(database_url, NOTIFY_WITH_DIRECTORY) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def tree(notify):
    await notify.reset()
    await notify.apply(*(new_event(p, source="/thidua/registration",
                                   district=getattr(p, "district_id", None) or DISTRICT,
                                   time=HARNESS_NOW) for p in TREE))


@pytest.fixture(scope="module")
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture(autouse=True)
def empty_mailbox(smtp):
    smtp.messages.clear()


def settings(smtp, **overrides) -> NotifySettings:
    return NotifySettings(**{"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                             "smtp_timeout_s": 60, "smtp_sender": "Thi đua <no-reply@thidua.test>",
                             "digest_batch_pause_ms": 0} | overrides)


def granted(award_id: str, member_id: str = "m-lt-teacher", name: str = "Lê Thu Hoa",
            title: str = "good_worker", unit_id: str = SCHOOL):
    data = AwardGranted(
        unit_id=unit_id, campaign_id=CAMPAIGN, subject_kind="member", subject_id=member_id,
        title=title, level="grassroots", award_id=award_id, subject_name=name,
        decision_number=f"{award_id}/QĐ-CĐCS", decision_date=HARNESS_NOW.date(),
        issuer_unit_id=unit_id, issuer_name="CĐCS Trường THCS Láng Thượng",
        granted_at=HARNESS_NOW)
    return new_event(data, source="/thidua/awards", district=DISTRICT, time=HARNESS_NOW)


@pytest.mark.parametrize(("local", "start", "end", "released"), [
    ("2025-06-02 23:10", "22:00", "06:30", "2025-06-03 06:30"),  # overnight, before midnight
    ("2025-06-03 05:00", "22:00", "06:30", "2025-06-03 06:30"),  # overnight, after midnight
    ("2025-06-02 12:00", "22:00", "06:30", None),  # outside
    ("2025-06-02 12:15", "12:00", "13:30", "2025-06-02 13:30"),  # same-day window
    ("2025-06-02 13:30", "12:00", "13:30", None),  # the end itself is free
])
async def test_quiet_hours_hold_until_the_end_of_the_period_vietnam_time(
        notify, local, start, end, released):
    at = datetime.fromisoformat(local + "+07:00")
    got = await notify.pool.fetchval("SELECT quiet_until($1, $2, $3)", at,
                                     time.fromisoformat(start), time.fromisoformat(end))
    assert got == (datetime.fromisoformat(released + "+07:00") if released else at)


async def test_an_email_in_quiet_hours_waits_for_their_end_then_goes(notify, smtp):
    now = datetime.now(UTC)
    local = datetime.now(UTC) + timedelta(hours=7)
    start = (local - timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    end = (local + timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    await put_contacts(notify.pool, "m-lt-teacher", "hoa.le@example.vn", None, "test")
    await put_preferences(notify.pool, "m-lt-teacher", "vi", True, True, "test",
                          quiet=(start, end))
    await notify.apply(granted("aw-1"))
    due = await notify.pool.fetchval(
        "SELECT next_attempt_at FROM deliveries WHERE recipient_id = 'm-lt-teacher'")
    assert timedelta(minutes=28) < due - now < timedelta(minutes=31)
    mailer = EmailSender(notify.pool, settings(smtp), Envelopes("notify", fixed_clock),
                         fixed_clock)
    assert await mailer.run_once() == 0
    # In-app is silent: it is in the inbox already.
    assert await notify.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE recipient_id = 'm-lt-teacher'") == 1
    await notify.pool.execute("UPDATE deliveries SET next_attempt_at = now()")  # the end came
    assert await mailer.run_once() == 1
    assert len(smtp.messages) == 1


async def test_a_daily_digest_groups_repeats_caps_links_the_rest_and_is_sent_once(notify, smtp):
    await put_contacts(notify.pool, "m-lt-chair", "mai.tran@example.vn", None, "test")
    await put_preferences(notify.pool, "m-lt-chair", "vi", True, True, "test",
                          email_digest="daily")
    # The chair hears of each award to a member of the school: two alike, one other.
    await notify.apply(granted("aw-1"), granted("aw-2", "m-lt-teacher2", "Đỗ Văn Nam"))
    await notify.apply(granted("aw-3", "m-lt-teacher2", "Đỗ Văn Nam"))
    await notify.apply(granted("aw-4", title="creative_labour"))
    assert await notify.pool.fetchval("SELECT count(*) FROM deliveries") == 0  # held
    assert await notify.pool.fetchval("SELECT count(*) FROM digest_items") == 4
    builder = DigestBuilder(notify.pool, settings(smtp, digest_max_items=2,
                                                  inbox_url="https://thidua.test/thong-bao"))
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    assert await builder.run_once(cutoff) == 1
    assert await builder.run_once(cutoff) == 0  # a rerun queues nothing twice
    mailer = EmailSender(notify.pool, settings(smtp), Envelopes("notify", fixed_clock),
                         fixed_clock)
    assert await mailer.run_once() == 1
    [message] = smtp.messages
    assert message["Subject"].startswith("Bản tin thi đua ngày ")
    assert message["Subject"].endswith(": 4 thông báo")
    text = message.get_body(("plain",)).get_content()
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert lines == ["- Lê Thu Hoa được tặng danh hiệu “Công nhân giỏi” cấp cơ sở",
                     "- Đỗ Văn Nam được tặng danh hiệu “Công nhân giỏi” cấp cơ sở (×2)"]
    assert "… và 1 thông báo khác: xem tất cả tại https://thidua.test/thong-bao" in text
    await notify.apply(granted("aw-1"))  # redelivered after the digest: nothing more held
    assert await builder.run_once(datetime.now(UTC) + timedelta(seconds=1)) == 0


async def test_digests_are_built_in_batches_and_nobody_gets_an_empty_one(notify, smtp):
    members = ["m-lt-chair", "m-dm-chair", "m-dd-chair", "m-lt-teacher"]
    for m in members[:3]:
        await put_contacts(notify.pool, m, f"{m}@example.vn", None, "test")
        await put_preferences(notify.pool, m, "vi", True, True, "test", email_digest="daily")
    await notify.apply(granted("aw-1"), granted("aw-2", "m-dm-worker", "Hoàng Văn Tú",
                                                unit_id=FACTORY))
    builder = DigestBuilder(notify.pool, settings(smtp, digest_batch_size=1))
    assert await builder.run_once(datetime.now(UTC) + timedelta(seconds=1)) == 2
    got = await notify.pool.fetch("SELECT recipient_id FROM deliveries ORDER BY 1")
    assert [r[0] for r in got] == ["m-dm-chair", "m-lt-chair"]  # m-dd-chair had nothing


def test_the_digest_moment_is_the_hour_in_vietnam():
    assert last_cutoff(datetime(2025, 6, 2, 1, 0, tzinfo=UTC), 7) == datetime(
        2025, 6, 2, 0, 0, tzinfo=UTC)  # 08:00 in Vietnam: today's 07:00
    assert last_cutoff(datetime(2025, 6, 1, 23, 0, tzinfo=UTC), 7) == datetime(
        2025, 6, 1, 0, 0, tzinfo=UTC)  # 06:00 on the 2nd: the 1st's 07:00
    lines, more = lines_of([("a", 3), ("b", 1), ("c", 2)], 2)
    assert ([(x.subject, x.count) for x in lines], more) == ([("a", 3), ("b", 1)], 2)


async def test_a_webhook_scope_holds_its_whole_subtree_as_of_the_event_date(notify):
    async with running_receiver() as receiver:
        for webhook_id, unit in (("wh-city", CITY), ("wh-district", DISTRICT),
                                 ("wh-school", SCHOOL), ("wh-factory", FACTORY),
                                 ("wh-badinh", OTHER_DISTRICT)):
            await webhook_store.create_webhook(notify.pool, webhook_id, "test:integrator",
                                            receiver.url(f"/{webhook_id}"), [GRANTED], unit,
                                            signing.new_secret())
        await notify.apply(granted("aw-1"))
        sender = WebhookSender(notify.pool, NotifySettings(webhook_timeout_s=60))
        assert await sender.run_once() == 3
        await sender.client.aclose()
        assert sorted(r.path for r in receiver.received) == [
            "/wh-city", "/wh-district", "/wh-school"]
    # On a date the tree does not hold the unit, nothing above it is known: only the unit
    # itself and the event's district attribute match.
    early = granted("aw-9").model_copy(update={"time": datetime(2024, 6, 1, tzinfo=UTC)})
    await notify.apply(early)
    rows = await notify.pool.fetch(
        "SELECT webhook_id FROM webhook_deliveries WHERE event_id = $1 ORDER BY 1", early.id)
    assert [r[0] for r in rows] == ["wh-district", "wh-school"]

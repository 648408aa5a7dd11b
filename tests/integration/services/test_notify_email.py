"""Notify's e-mail channel against a real SMTP server (aiosmtpd) and PostgreSQL: queued in the
batch's transaction, sent by the sender task, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.notify.domain import notification_id
from services.notify.email_channel import EmailSender
from services.notify.member_store import put_contacts, put_preferences
from services.notify.settings import NotifySettings
from services.runtime.context import Envelopes
from tests.integration.services.test_notify_handlers import NOTIFY, eligibility_changed
from tests.support.handler_harness import fixed_clock, open_harness
from tests.support.smtp import SmtpServer, closed_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def notify(database_url):
    async with open_harness(database_url, NOTIFY) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(notify):
    await notify.reset()


@pytest.fixture(scope="module")
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture(autouse=True)
def empty_mailbox(smtp):
    smtp.messages.clear()


def sender(notify, port: int, **overrides) -> EmailSender:
    settings = NotifySettings(**{
        "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout_s": 60,
        "smtp_sender": "Thi đua <no-reply@thidua.test>", "email_retry_backoff_s": 0,
    } | overrides)
    return EmailSender(notify.pool, settings, Envelopes("notify", fixed_clock), fixed_clock)


async def with_email(notify, member_id: str, email: str, **preferences) -> None:
    await put_contacts(notify.pool, member_id, email, "+84 912 345 678", "test")
    if preferences:
        prefs = {"language": "vi", "email_enabled": True, "in_app_enabled": True} | preferences
        await put_preferences(notify.pool, member_id, prefs["language"], prefs["email_enabled"],
                              prefs["in_app_enabled"], "test")


def dated(event, day: datetime):
    return event.model_copy(update={"time": day})


async def test_an_eligibility_change_sends_one_email_with_both_parts_and_a_stable_id(
        notify, smtp):
    await with_email(notify, "m-1", "lan.nguyen@example.vn")
    event = dated(eligibility_changed("m-1", correlation_id="flow-9"),
                  datetime(2025, 6, 30, 20, 0, tzinfo=UTC))  # 1 Jul in Vietnam
    await notify.apply(event)
    assert await sender(notify, smtp.port).run_once() == 1
    [message] = smtp.messages
    expected_id = notification_id(event.id, "m-1", "email")
    assert message["Message-ID"] == f"<{expected_id}@thidua.test>"
    assert message["X-Envelope-To"] == "lan.nguyen@example.vn"
    assert message["Subject"] == "Bạn đủ điều kiện xét danh hiệu “Công nhân giỏi” cấp cơ sở"
    assert message["Content-Language"] == "vi"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Ngày ghi nhận: 01/07/2025" in text
    assert "<strong>đủ điều kiện</strong>" in html and "01/07/2025" in html
    delivered = await notify.emitted("thidua.notification.delivered.v1")
    email = [d for d in delivered if d.data.channel == "email"]
    assert [(d.data.notification_id, d.causationid, d.correlationid, d.data.attempts)
            for d in email] == [(expected_id, event.id, "flow-9", 1)]
    assert len([d for d in delivered if d.data.channel == "in_app"]) == 1


async def test_a_redelivered_event_sends_nothing_more(notify, smtp):
    await with_email(notify, "m-1", "lan.nguyen@example.vn")
    event = eligibility_changed("m-1")
    await notify.apply(event)
    mailer = sender(notify, smtp.port)
    await mailer.run_once()
    await notify.apply(event)  # redelivered at a later offset
    await notify.pool.execute("DELETE FROM inbox")  # and after retention forgot it
    await notify.apply(event)
    assert await mailer.run_once() == 0
    assert len(smtp.messages) == 1
    assert len(await notify.emitted("thidua.notification.delivered.v1")) == 2  # in-app, e-mail


async def test_a_restarted_sender_does_not_send_what_was_acknowledged(notify, smtp):
    await with_email(notify, "m-1", "lan.nguyen@example.vn")
    await notify.apply(eligibility_changed("m-1"))
    await sender(notify, smtp.port).run_once()
    await notify.pool.execute("UPDATE deliveries SET next_attempt_at = now() - interval '1 h'")
    assert await sender(notify, smtp.port).run_once() == 0
    assert len(smtp.messages) == 1


async def test_a_member_who_opted_out_of_email_gets_in_app_only(notify, smtp):
    await with_email(notify, "m-1", "lan.nguyen@example.vn", email_enabled=False)
    await notify.apply(eligibility_changed("m-1"))
    assert await sender(notify, smtp.port).run_once() == 0
    assert smtp.messages == []
    assert await notify.pool.fetchval("SELECT count(*) FROM notifications") == 1
    assert await notify.pool.fetchval("SELECT count(*) FROM deliveries") == 0


async def test_a_member_without_contact_gets_in_app_only(notify, smtp):
    await notify.apply(eligibility_changed("m-2"))
    assert await sender(notify, smtp.port).run_once() == 0
    assert smtp.messages == []
    [delivered] = await notify.emitted()
    assert delivered.data.channel == "in_app"


async def test_english_is_sent_to_members_who_asked_for_it(notify, smtp):
    await with_email(notify, "m-1", "lan.nguyen@example.vn", language="en")
    await notify.apply(dated(eligibility_changed("m-1", eligible=False,
                                                 reason="min_points_not_reached"),
                             datetime(2025, 12, 5, 3, 0, tzinfo=UTC)))
    await sender(notify, smtp.port).run_once()
    [message] = smtp.messages
    assert message["Subject"] == ("You are not yet eligible for the title “Good Worker” at "
                                  "grassroots level")
    assert "Recorded on: 05/12/2025" in message.get_body(("plain",)).get_content()


async def test_a_relay_that_is_down_is_retried_then_the_notification_fails(notify):
    await with_email(notify, "m-1", "lan.nguyen@example.vn")
    event = eligibility_changed("m-1")
    await notify.apply(event)
    mailer = sender(notify, closed_port(), email_max_attempts=3)
    for attempt in (1, 2, 3):
        assert await mailer.run_once() == 1, attempt
        status = await notify.pool.fetchval("SELECT status FROM deliveries")
        assert status == ("failed" if attempt == 3 else "pending")
    assert await mailer.run_once() == 0
    [failed] = await notify.emitted("thidua.notification.failed.v1")
    assert (failed.data.channel, failed.data.attempts, failed.causationid) == (
        "email", 3, event.id)
    assert "lan.nguyen" not in failed.data.error
    assert "@" not in failed.model_dump_json()


async def test_retries_wait_longer_each_time(notify):
    await with_email(notify, "m-1", "lan.nguyen@example.vn")
    await notify.apply(eligibility_changed("m-1"))
    mailer = sender(notify, closed_port(), email_retry_backoff_s=60)
    await mailer.run_once()
    assert await mailer.run_once() == 0  # not due yet
    wait = await notify.pool.fetchval(
        "SELECT extract(epoch FROM next_attempt_at - now()) FROM deliveries")
    assert 25 < wait <= 60  # half to all of the backoff: jitter spreads a fan-out's retries


async def test_two_senders_claim_disjoint_rows_and_mail_each_member_once(notify, smtp):
    members = [f"m-{i}" for i in range(12)]
    for m in members:
        await with_email(notify, m, f"{m}@example.vn")
    await notify.apply(*(eligibility_changed(m) for m in members))
    first = sender(notify, smtp.port, email_batch_size=5)
    second = sender(notify, smtp.port, email_batch_size=5)
    while sum(await asyncio.gather(first.run_once(), second.run_once())):
        pass
    assert sorted(m["X-Envelope-To"] for m in smtp.messages) == sorted(
        f"{m}@example.vn" for m in members)
    assert await notify.pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE status = 'sent' AND attempts = 1") == 12


async def test_no_more_messages_than_the_concurrency_limit_are_in_flight(notify):
    in_flight, most = 0, 0

    async def slow_relay(message):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1

    for i in range(10):
        await with_email(notify, f"m-{i}", f"m-{i}@example.vn")
    await notify.apply(*(eligibility_changed(f"m-{i}") for i in range(10)))
    mailer = sender(notify, 1, email_max_concurrency=3)
    mailer.channel.transport = slow_relay
    assert await mailer.run_once() == 10
    assert most == 3


async def test_a_member_whose_address_was_removed_before_sending_is_not_mailed(notify, smtp):
    await with_email(notify, "m-1", "lan.nguyen@example.vn")
    await notify.apply(eligibility_changed("m-1"))
    await put_contacts(notify.pool, "m-1", None, None, "test")
    await sender(notify, smtp.port).run_once()
    assert smtp.messages == []
    [failed] = await notify.emitted("thidua.notification.failed.v1")
    assert (failed.data.error, failed.data.attempts) == ("no e-mail address on record", 1)


async def test_a_member_who_opted_out_of_in_app_gets_the_email_only(notify, smtp):
    await with_email(notify, "m-1", "lan.nguyen@example.vn", in_app_enabled=False)
    await notify.apply(eligibility_changed("m-1"))
    await sender(notify, smtp.port).run_once()
    assert len(smtp.messages) == 1
    assert await notify.pool.fetchval("SELECT count(*) FROM notifications") == 0
    assert [d.data.channel for d in await notify.emitted()] == ["email"]

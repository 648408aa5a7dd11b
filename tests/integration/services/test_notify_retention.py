"""Retention of notify's delivery records and in-app messages on real PostgreSQL: what is
finished and older than `NOTIFY_RETENTION_DAYS` goes, in batches, and in-app messages older than
`NOTIFY_IN_APP_RETENTION_DAYS`; what is pending, recent or still named stays."""

from __future__ import annotations

import pytest

from services.notify import retention, webhook_store
from services.notify.retention import Retention, prune_once
from services.notify.settings import NotifySettings
from tests.integration.services.test_notify_email import sender, with_email
from tests.integration.services.test_notify_handlers import NOTIFY, eligibility_changed
from tests.support.handler_harness import open_harness
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

OLD = "now() - interval '100 days'"


@pytest.fixture(scope="module")
async def notify(database_url):
    async with open_harness(database_url, NOTIFY) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(notify):
    await notify.reset()


def settings(**overrides) -> NotifySettings:
    return NotifySettings(**{"retention_days": 90, "retention_batch_size": 2,
                             "retention_batch_pause_ms": 0} | overrides)


async def sent_emails(notify) -> None:
    """m-1…m-4 share one body (eligible), m-5 has another (not eligible); all sent."""
    for i in range(1, 6):
        await with_email(notify, f"m-{i}", f"m-{i}@example.vn")
    await notify.apply(*(eligibility_changed(f"m-{i}") for i in range(1, 5)),
                       eligibility_changed("m-5", eligible=False, reason="missing_criteria"))
    with SmtpServer() as smtp:
        assert await sender(notify, smtp.port).run_once() == 5
        assert len(smtp.messages) == 5


async def test_finished_emails_older_than_the_retention_go_in_batches_with_their_bodies(notify):
    await sent_emails(notify)
    await notify.pool.execute(
        f"UPDATE deliveries SET finished_at = {OLD} WHERE recipient_id <> 'm-4'")
    await notify.pool.execute(f"UPDATE message_bodies SET created_at = {OLD}")
    # Queued long ago and still waiting (a relay down for months): never pruned.
    await with_email(notify, "m-6", "m-6@example.vn")
    await notify.apply(eligibility_changed("m-6"))
    await notify.pool.execute(
        f"UPDATE deliveries SET created_at = {OLD} WHERE recipient_id = 'm-6'")
    before = retention.PRUNED.labels("deliveries")._value.get()

    deleted = await prune_once(notify.pool, settings())

    assert deleted["deliveries"] == 4  # three batches of at most two
    assert retention.PRUNED.labels("deliveries")._value.get() - before == 4
    assert [tuple(r) for r in await notify.pool.fetch(
        "SELECT recipient_id, status FROM deliveries ORDER BY recipient_id")] == [
        ("m-4", "sent"), ("m-6", "pending")]
    # The eligible body is still named by m-4's and m-6's rows; the other one by nobody.
    assert deleted["message_bodies"] == 1
    assert await notify.pool.fetchval("SELECT count(*) FROM message_bodies") == 1
    assert await notify.pool.fetchval(
        "SELECT count(*) FROM deliveries d JOIN message_bodies b USING (body_id)") == 2
    # The members' in-app messages keep to their own, longer retention: untouched.
    assert await notify.pool.fetchval("SELECT count(*) FROM notifications") == 6


async def test_in_app_messages_go_after_their_own_retention_read_or_not(notify):
    await notify.apply(*(eligibility_changed(f"m-{i}") for i in range(1, 6)))
    assert await notify.pool.fetchval("SELECT count(*) FROM notifications") == 5
    # m-1 read it long ago, m-2 never did; m-3 is past the deliveries' 90 days but within the
    # inbox's 730; m-4 and m-5 are recent.
    await notify.pool.execute(
        """UPDATE notifications SET created_at = now() - CASE recipient_id
                WHEN 'm-1' THEN interval '800 days' WHEN 'm-2' THEN interval '731 days'
                WHEN 'm-3' THEN interval '100 days' END,
               read_at = CASE WHEN recipient_id = 'm-1' THEN now() - interval '799 days' END
           WHERE recipient_id IN ('m-1', 'm-2', 'm-3')""")
    before = retention.PRUNED.labels("notifications")._value.get()

    deleted = await prune_once(notify.pool, settings())

    assert deleted["notifications"] == 2
    assert retention.PRUNED.labels("notifications")._value.get() - before == 2
    assert sorted(r[0] for r in await notify.pool.fetch(
        "SELECT recipient_id FROM notifications")) == ["m-3", "m-4", "m-5"]


async def test_a_body_no_longer_named_but_recent_stays(notify):
    await sent_emails(notify)
    await notify.pool.execute(f"UPDATE deliveries SET finished_at = {OLD}")
    deleted = await prune_once(notify.pool, settings())
    assert (deleted["deliveries"], deleted["message_bodies"]) == (5, 0)
    assert await notify.pool.fetchval("SELECT count(*) FROM message_bodies") == 2


async def test_webhook_deliveries_and_digest_items_finished_long_ago_go(notify):
    await webhook_store.create_webhook(notify.pool, "wh-1", "test:integrator",
                                       "http://127.0.0.1:9/hook",
                                       ["thidua.award.eligibility_changed.v1"], "d-dongda",
                                       "whsec_" + "A" * 32)
    await notify.apply(*(eligibility_changed(f"m-{i}") for i in range(1, 5)))
    ids = [r[0] for r in await notify.pool.fetch(
        "SELECT delivery_id FROM webhook_deliveries ORDER BY delivery_id")]
    assert len(ids) == 4
    await notify.pool.execute(
        f"""UPDATE webhook_deliveries SET status = CASE WHEN delivery_id = $1 THEN 'delivered'
                                                       WHEN delivery_id = $2 THEN 'parked'
                                                       WHEN delivery_id = $3 THEN 'delivered'
                                                       ELSE status END,
                   finished_at = CASE WHEN delivery_id = $3 THEN now()
                                      WHEN delivery_id = ANY($4::text[]) THEN {OLD} END,
                   created_at = {OLD}""", ids[0], ids[1], ids[2], ids[:2])
    await notify.pool.execute(
        f"""INSERT INTO digest_items (notification_id, recipient_id, template, subject, language,
                                      source_event_id, correlation_id, created_at, digest_id)
            VALUES ('d-1', 'm-1', 't', 's', 'vi', 'e-1', 'c', {OLD}, 'dg-1'),
                   ('d-2', 'm-1', 't', 's', 'vi', 'e-2', 'c', {OLD}, NULL),
                   ('d-3', 'm-1', 't', 's', 'vi', 'e-3', 'c', now(), 'dg-2')""")

    deleted = await prune_once(notify.pool, settings())

    assert (deleted["webhook_deliveries"], deleted["digest_items"]) == (2, 1)
    assert sorted(r[0] for r in await notify.pool.fetch(
        "SELECT delivery_id FROM webhook_deliveries")) == sorted(ids[2:])
    assert sorted(r[0] for r in await notify.pool.fetch(
        "SELECT notification_id FROM digest_items")) == ["d-2", "d-3"]


async def test_one_replica_prunes_at_a_time(notify):
    job = Retention(notify.pool, settings(), "notify-retention-test")
    async with notify.pool.acquire() as other:
        await other.execute("SELECT pg_advisory_lock($1)", job.lock)
        try:
            assert await job.run_once() is None
        finally:
            await other.execute("SELECT pg_advisory_unlock($1)", job.lock)
    assert await job.run_once() == {"deliveries": 0, "webhook_deliveries": 0,
                                    "digest_items": 0, "message_bodies": 0, "notifications": 0}


def test_a_retention_shorter_than_the_redelivery_window_is_refused():
    with pytest.raises(ValueError, match="inbox_retention_hours"):
        NotifySettings(retention_days=2, inbox_retention_hours=168)
    with pytest.raises(ValueError, match="in_app_retention_days"):
        NotifySettings(in_app_retention_days=3, inbox_retention_hours=168)
    assert NotifySettings(retention_days=7, inbox_retention_hours=168).retention_days == 7


def test_the_email_lease_outlasts_the_slowest_send_unless_set():
    s = NotifySettings(smtp_timeout_s=30, email_max_concurrency=8, email_rate_per_s=50)
    assert s.email_lease_s == pytest.approx(2 * 8 * 30 + 2 * 8 / 50)
    assert NotifySettings(smtp_timeout_s=5).email_lease_s == pytest.approx(80 + 16 / 50)
    assert NotifySettings(email_claim_lease_s=12).email_lease_s == 12

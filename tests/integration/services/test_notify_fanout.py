"""A phase close fanned out to every unit's officers by e-mail, against a real SMTP server and
PostgreSQL: redelivered, and with the sender stopped mid-fan-out and started again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from contracts import new_event
from contracts.events.campaigns import CampaignLaunched, Phase, PhaseClosed
from contracts.events.org import MemberRegistered
from services.notify.email_channel import EmailSender
from services.notify.fanout_store import AUDIENCES
from services.notify.repository import NotifyRepository
from services.notify.settings import NotifySettings
from services.notify.triggers import Audience
from services.runtime.context import Envelopes
from tests.integration.services.test_notify_triggers import NOTIFY_WITH_DIRECTORY
from tests.support.events import unit_state
from tests.support.handler_harness import HARNESS_NOW, fixed_clock, open_harness
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration
UNITS = 40
DISTRICT, CAMPAIGN, PHASE = "d-fanout", "cmp-fanout", "cmp-fanout-p1"


@pytest.fixture(scope="module")
async def notify(database_url):
    async with open_harness(database_url, NOTIFY_WITH_DIRECTORY) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def tree(notify):
    await notify.reset()
    founded = date(2020, 1, 1)
    events = [unit_state(DISTRICT, None, founded, kind="district_federation",
                         district_id=DISTRICT, time=HARNESS_NOW)]
    events += [unit_state(f"g-{i}", DISTRICT, founded, district_id=DISTRICT, time=HARNESS_NOW)
               for i in range(UNITS)]
    events += [new_event(MemberRegistered(
        member_id=f"m-{i}", unit_id=f"g-{i}", full_name="Nguyễn Thị Lan", gender="female",
        direct_worker=False, union_officer=True, effective_from=founded),
        source="/thidua/registration", district=DISTRICT, time=HARNESS_NOW)
        for i in range(UNITS)]
    events.append(new_event(CampaignLaunched(
        campaign_id=CAMPAIGN, organizer_unit_id=DISTRICT, year=2025, theme="Thi đua 90 ngày",
        movements=["lao_dong_gioi"], launched_at=HARNESS_NOW,
        phases=[Phase(phase_id=PHASE, name="Đợt cao điểm 90 ngày", kind="peak",
                      starts_on=date(2025, 3, 1), ends_on=date(2025, 5, 30))]),
        source="/thidua/registration", district=DISTRICT, time=HARNESS_NOW))
    await notify.apply(*events)
    await notify.pool.execute(
        """INSERT INTO member_contacts (member_id, email, updated_by)
           SELECT 'm-' || i, 'officer' || i || '@example.vn', 'test'
           FROM generate_series(0, $1 - 1) AS i""", UNITS)


@pytest.fixture(scope="module")
def smtp():
    with SmtpServer() as server:
        yield server


def closed():
    return new_event(PhaseClosed(campaign_id=CAMPAIGN, phase_id=PHASE,
                                 closed_at=datetime(2025, 5, 31, 10, tzinfo=UTC),
                                 closed_by_unit_id=DISTRICT, accepted_counts={}),
                     source="/thidua/registration", district=DISTRICT, time=HARNESS_NOW)


def sender(notify, smtp, **overrides) -> EmailSender:
    settings = NotifySettings(**{"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                 "smtp_timeout_s": 60, "email_poll_interval_ms": 10,
                                 "email_max_concurrency": 4, "email_batch_size": 8,
                                 "email_claim_lease_s": 0.5} | overrides)
    return EmailSender(notify.pool, settings, Envelopes("notify", fixed_clock), fixed_clock)


async def sent(notify) -> int:
    return await notify.pool.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'")


async def test_every_officer_is_mailed_once_though_the_event_is_redelivered(notify, smtp):
    smtp.messages.clear()
    event = closed()
    await notify.apply(event)
    await notify.apply(notify.record(event, partition=0, offset=0))  # the same record again
    await notify.pool.execute("DELETE FROM inbox")
    await notify.apply(event)  # after retention forgot it
    mailer = sender(notify, smtp)
    while await mailer.run_once():
        pass
    assert sorted(m["X-Envelope-To"] for m in smtp.messages) == sorted(
        f"officer{i}@example.vn" for i in range(UNITS))
    delivered = await notify.emitted("thidua.notification.delivered.v1")
    assert Counter(d.data.channel for d in delivered) == {"in_app": UNITS, "email": UNITS}


async def test_a_sender_stopped_mid_fan_out_resends_nothing_it_recorded(notify, smtp):
    smtp.messages.clear()
    await notify.apply(closed())
    first = sender(notify, smtp)
    task = asyncio.create_task(first.run())
    deadline = time.monotonic() + 120
    while await sent(notify) < UNITS // 4:
        assert not task.done(), task  # the sender ended (or failed) before a quarter was sent
        assert time.monotonic() < deadline, await sent(notify)
        await asyncio.sleep(0.005)
    task.cancel()  # the process stops: sends in flight are cut off
    await asyncio.gather(task, return_exceptions=True)
    recorded = {r[0] for r in await notify.pool.fetch(
        "SELECT notification_id FROM deliveries WHERE status = 'sent'")}
    assert 0 < len(recorded) < UNITS
    await asyncio.sleep(0.6)  # the leases of what the stopped sender held run out
    second = sender(notify, smtp)
    for _ in range(UNITS):  # each claim sends at least one, so this bounds a sender stuck
        if not await second.run_once():
            break
    assert await sent(notify) == UNITS
    ids = Counter(m["Message-ID"] for m in smtp.messages)
    assert len(ids) == UNITS  # everyone got it
    twice = {i for i, n in ids.items() if n > 1}
    # Only a message accepted by the relay but not yet recorded when the sender stopped (the
    # documented window) may arrive twice, with the same Message-ID; nothing recorded is resent.
    assert not {f"<{n}@thidua.local>" for n in recorded} & twice
    # At most the messages in flight (4) and those sent while a commit ran, awaiting theirs (4).
    assert len(twice) <= 2 * 4


async def test_a_fan_out_announces_each_inbox_line_once_and_stores_one_mail_body(notify, smtp):
    event = closed()
    await notify.apply(event)
    await notify.apply(notify.record(event, partition=0, offset=0))  # redelivered
    announced = await notify.emitted("thidua.notification.delivered.v1")
    inbox = {r["notification_id"]: r["recipient_id"] for r in await notify.pool.fetch(
        "SELECT notification_id, recipient_id FROM notifications")}
    assert len(announced) == len(inbox) == UNITS
    assert len({a.id for a in announced}) == UNITS  # a fresh event id each
    for a in announced:
        assert a.subject == a.data.recipient_id == inbox[a.data.notification_id]
        assert a.partition_key() == a.data.recipient_id
        assert (a.causationid, a.correlationid, a.district) == (
            event.id, event.correlationid, DISTRICT)
        assert (a.data.template, a.data.channel, a.data.source_event_id) == (
            "phase_closed", "in_app", event.id)
    keys = await notify.pool.fetch("SELECT partition_key, event_id FROM outbox")
    assert {k["partition_key"].decode() for k in keys} == set(inbox.values())
    # Every officer's e-mail names the one stored body; none is kept inline.
    bodies = await notify.pool.fetch(
        """SELECT body_id, count(*) AS n, count(text_body) AS inline FROM deliveries
           GROUP BY body_id""")
    assert [(b["n"], b["inline"]) for b in bodies] == [(UNITS, 0)]
    assert await notify.pool.fetchval("SELECT count(*) FROM message_bodies") == 1
    smtp.messages.clear()
    mailer = sender(notify, smtp)
    while await mailer.run_once():
        pass
    assert len(smtp.messages) == UNITS
    assert all("Đợt cao điểm 90 ngày" in m.get_body(("plain",)).get_content()
               for m in smtp.messages)


async def test_the_subtree_walk_goes_by_parent_and_unit_once_the_directory_is_analyzed(notify):
    """Probing the directory's exclusion index on the date alone reads every unit valid that
    day once per unit reached: 106 s for 10,000 units, once statistics were analyzed. The walk
    spells the date test so that no index can take it alone (`directory_sql.holds_on`), and
    still finds exactly the units and officers of the day."""
    wide = 3000
    await notify.pool.execute(
        """INSERT INTO directory_units (unit_id, effective_from, valid, parent_id, name, kind,
               district_id, sector, member_count, direct_worker_count, status, recorded_at)
           SELECT 'w-' || i, DATE '2020-01-01', daterange(DATE '2020-01-01', NULL), 'd-wide',
                  'Công đoàn ' || i, 'grassroots', 'd-wide', 'enterprise', 1, 0, 'active', now()
           FROM generate_series(1, $1) AS i;
           INSERT INTO directory_members (member_id, effective_from, valid, unit_id, full_name,
               gender, direct_worker, union_officer, status, recorded_at)
           SELECT 'wm-' || i, DATE '2020-01-01', daterange(DATE '2020-01-01', NULL), 'w-' || i,
                  'Trần Văn An', 'male', false, true, 'active', now()
           FROM generate_series(1, $1) AS i""".replace("$1", str(wide)))
    # Units under it on other days: closed the day before (ranges end exclusive), founded the
    # day after; and one founded on the day itself, which counts.
    for unit, valid in (("w-closed", "[2020-01-01,2025-05-31)"),
                        ("w-later", "[2025-06-01,)"), ("w-new", "[2025-05-31,)")):
        await notify.pool.execute(
            """INSERT INTO directory_units (unit_id, effective_from, valid, parent_id, name,
                   kind, district_id, sector, member_count, direct_worker_count, status,
                   recorded_at)
               VALUES ($1, lower($2::daterange), $2::daterange, 'd-wide', $1, 'grassroots',
                       'd-wide', 'enterprise', 1, 0, 'active', now());
               INSERT INTO directory_members (member_id, effective_from, valid, unit_id,
                   full_name, gender, direct_worker, union_officer, status, recorded_at)
               VALUES ('m-' || $1, lower($2::daterange), $2::daterange, $1, 'Lê Thị Hoa',
                       'female', false, true, 'active', now())""".replace(
                "$1", f"'{unit}'").replace("$2", f"'{valid}'"))
    await notify.pool.execute("ANALYZE")
    plan = "\n".join(r[0] for r in await notify.pool.fetch(
        "EXPLAIN " + AUDIENCES, [0], ["d-wide"], [date(2025, 5, 31)], [], [], [], [], []))
    assert "one_state_a_day" not in plan, plan
    async with notify.pool.acquire() as conn:
        found = await NotifyRepository(conn).recipients(
            [Audience(on=date(2025, 5, 31), officials_below="d-wide")])
    assert sorted(r.member_id for r in found) == sorted(
        [f"wm-{i}" for i in range(1, wide + 1)] + ["m-w-new"])

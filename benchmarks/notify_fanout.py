"""A phase close fanned out to N unit officials by e-mail, and N webhook deliveries, each to a
real local server, beside those servers' own acceptance rates measured alone in the same run.

Builds a district federation with N grassroots unions under it, each with one union officer
holding an e-mail address, and a campaign organized by the district, through notify's own
handlers (the real consumer, no Kafka). Then, in order:

1. SMTP ceiling: the local SMTP server (aiosmtpd, in a thread) accepting N messages sent
   straight with aiosmtplib over as many open connections as the e-mail worker may hold;
2. the fan-out: the `thidua.phase.closed.v1` batch (recipients resolved, e-mails rendered and
   queued, in-app messages written and announced), then the e-mail queue worker until the last
   one is accepted: notifications per second, and the time from the event to the last delivery;
3. HTTP ceiling: the local webhook receiver (uvicorn) taking N signed POSTs straight from httpx
   at the webhook worker's concurrency;
4. webhooks: N/10 award events to 10 subscriptions (N deliveries), through the webhook worker.

    python -m benchmarks.notify_fanout [--recipients 10000] [--concurrency 8]

Rate limits are lifted for the run (the default `NOTIFY_EMAIL_RATE_PER_S` is a deliberate
brake on the relay, not a ceiling). Uses DATABASE_URL when set, else the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
import uuid
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import httpx
from aiosmtpd.controller import Controller

from contracts import new_event
from contracts.events.awards import AwardGranted
from contracts.events.campaigns import CampaignLaunched, Phase, PhaseClosed
from contracts.events.org import MemberRegistered
from services.devstack.infrastructure import provide_infrastructure
from services.notify import signing, webhook_store
from services.notify.email_channel import EmailSender
from services.notify.handlers import handlers
from services.notify.repository import NotifyRepository
from services.notify.settings import NotifySettings
from services.notify.webhook_channel import WebhookSender
from services.runtime.context import Envelopes
from services.runtime.db import open_schema
from services.runtime.directory import directory_handlers
from services.runtime.logs import configure_logging
from tests.support.events import unit_state
from tests.support.handler_harness import HandlerHarness, ServiceUnderTest, fixed_clock
from tests.support.smtp import free_port
from tests.support.webhook_receiver import running_receiver

DISTRICT, CAMPAIGN, PHASE = "d-dongda", "cmp-bench", "cmp-bench-p1"
FOUNDED = date(2020, 1, 1)
BATCH = 2000  # CONSUMER_MAX_RECORDS
SUBSCRIPTIONS = 10
MIGRATIONS = Path(__file__).parents[1] / "services" / "notify" / "migrations"


class Counting:
    """An SMTP server's DATA handler that only counts what it accepted."""

    def __init__(self) -> None:
        self.accepted = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.accepted += 1
        return "250 Message accepted for delivery"


def message(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"] = "no-reply@thidua.bench", f"officer-{n}@example.vn"
    m["Subject"] = "Đã kết thúc Đợt 1 — Lao động giỏi, lao động sáng tạo"
    m.set_content("Kính gửi Ban Chấp hành Công đoàn,\n\nĐợt 1 đã khóa sổ.\n" * 3)
    m.add_alternative("<p>Kính gửi Ban Chấp hành Công đoàn,</p><p>Đợt 1 đã khóa sổ.</p>",
                      subtype="html")
    return m


async def bounded(concurrency: int, count: int, one) -> float:
    """Seconds to run `one(n)` for n < count, `concurrency` at a time."""
    slots = asyncio.Semaphore(concurrency)

    async def run(n: int) -> None:
        async with slots:
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(run(n) for n in range(count)))
    return time.perf_counter() - started


async def seed(harness: HandlerHarness, pool: asyncpg.Pool, n: int) -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    events = [unit_state(DISTRICT, None, FOUNDED, kind="district_federation",
                         district_id=DISTRICT, name="LĐLĐ quận Đống Đa", time=now)]
    events += [unit_state(f"g-{i:05d}", DISTRICT, FOUNDED, district_id=DISTRICT, time=now)
               for i in range(n)]
    events += [new_event(MemberRegistered(
        member_id=f"m-{i:05d}", unit_id=f"g-{i:05d}", full_name="Nguyễn Thị Lan",
        gender="female", direct_worker=False, union_officer=True, effective_from=FOUNDED),
        source="/thidua/registration", district=DISTRICT, time=now) for i in range(n)]
    events.append(new_event(CampaignLaunched(
        campaign_id=CAMPAIGN, organizer_unit_id=DISTRICT, year=2025,
        theme="Lao động giỏi, lao động sáng tạo", movements=["lao_dong_gioi"],
        phases=[Phase(phase_id=PHASE, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 6, 30))], launched_at=now),
        source="/thidua/registration", district=DISTRICT, time=now))
    for start in range(0, len(events), BATCH):
        await harness.apply(*events[start:start + BATCH])
    await pool.execute(
        """INSERT INTO member_contacts (member_id, email, updated_by)
           SELECT 'm-' || lpad(i::text, 5, '0'), 'officer-' || i || '@example.vn', 'bench'
           FROM generate_series(0, $1 - 1) AS i""", n)


async def until(pool: asyncpg.Pool, query: str, expected: int, timeout: float) -> float:
    """Seconds until `query` counts `expected` (polling every 20 ms)."""
    started = time.perf_counter()
    while await pool.fetchval(query) < expected:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{query} did not reach {expected}")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def run(args: argparse.Namespace, database_url: str) -> None:
    n, concurrency = args.recipients, args.concurrency
    schema = f"bench_notify_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, ("notify", MIGRATIONS), max_size=16)
    counting = Counting()
    smtp_port = free_port()
    smtp = Controller(counting, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        harness = HandlerHarness(pool, ServiceUnderTest(
            "notify", handlers.including(directory_handlers), NotifyRepository), fixed_clock)
        await seed(harness, pool, n)
        settings = NotifySettings(
            smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_sender="no-reply@thidua.bench",
            email_max_concurrency=concurrency, email_rate_per_s=1e9, email_batch_size=200,
            email_poll_interval_ms=20, webhook_max_concurrency=concurrency,
            webhook_max_per_endpoint=max(1, concurrency // 2), webhook_rate_per_s=1e9,
            webhook_batch_size=200, webhook_poll_interval_ms=20, webhook_timeout_s=10)

        # 1. The SMTP server alone, over as many open connections as the worker may use.
        messages = [message(i) for i in range(n)]

        async def sender(k: int) -> None:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port,
                                       timeout=30) as client:
                for i in range(k, n, concurrency):
                    await client.send_message(messages[i])

        started = time.perf_counter()
        await asyncio.gather(*(sender(k) for k in range(concurrency)))
        smtp_ceiling = n / (time.perf_counter() - started)
        print(f"ceiling  SMTP server alone          {smtp_ceiling:>9,.0f} messages/s  "
              f"({n:,} sent straight with aiosmtplib over {concurrency} open connections)")

        # 2. The phase close.
        before = counting.accepted
        closed = new_event(PhaseClosed(campaign_id=CAMPAIGN, phase_id=PHASE,
                                       closed_at=datetime.now(UTC), closed_by_unit_id=DISTRICT,
                                       accepted_counts={}),
                           source="/thidua/registration", district=DISTRICT)
        started = time.perf_counter()
        await harness.apply(closed)
        queued = time.perf_counter() - started
        worker = EmailSender(pool, settings, Envelopes("notify"), fixed_clock)
        task = asyncio.create_task(worker.run())
        await until(pool, "SELECT count(*) FROM deliveries WHERE status = 'sent'", n, 600)
        last = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        in_app = await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE template = 'phase_closed'")
        if (counting.accepted - before, in_app) != (n, n):
            raise AssertionError(f"{counting.accepted - before} e-mails accepted and {in_app} "
                                 f"in-app messages for {n} officials")
        print(f"phase close handled                 {queued:>9.2f} s  ({n:,} officials "
              f"resolved, {n:,} in-app written and announced, {n:,} e-mails queued)")
        print(f"e-mail fan-out                      {n / last:>9,.0f} notifications/s  "
              f"{n / last / smtp_ceiling:.2f} of the SMTP ceiling; last delivered "
              f"{last:.1f} s after the event")

        # 3. The webhook receiver alone, then 4. through the webhook worker.
        async with running_receiver() as receiver:
            secret = signing.new_secret()
            body = closed.model_dump_json().encode()
            async with httpx.AsyncClient(
                    limits=httpx.Limits(max_connections=concurrency)) as client:
                seconds = await bounded(concurrency, n, lambda i: client.post(
                    receiver.url("/ceiling"), content=body,
                    headers=signing.headers([secret], f"msg-{i}", int(time.time()), body)))
            http_ceiling = n / seconds
            print(f"ceiling  webhook receiver alone     {http_ceiling:>9,.0f} requests/s  "
                  f"({n:,} signed POSTs straight with httpx, concurrency {concurrency})")
            for s in range(SUBSCRIPTIONS):
                await webhook_store.create_webhook(
                    pool, f"wh-{s}", "bench:integrator", receiver.url(f"/hook-{s}"),
                    ["thidua.award.granted.v1"], DISTRICT, signing.new_secret())
            grants = [new_event(AwardGranted(
                unit_id=f"g-{i:05d}", campaign_id=CAMPAIGN, subject_kind="unit",
                subject_id=f"g-{i:05d}", title="emulation_flag", level="district",
                award_id=f"aw-{i}", subject_name=f"Công đoàn g-{i:05d}",
                decision_number=f"{i}/QĐ-LĐLĐ", decision_date=date(2025, 7, 1),
                issuer_unit_id=DISTRICT, issuer_name="LĐLĐ quận Đống Đa",
                granted_at=datetime.now(UTC)), source="/thidua/awards", district=DISTRICT)
                for i in range(n // SUBSCRIPTIONS)]
            started = time.perf_counter()
            for start in range(0, len(grants), BATCH):
                await harness.apply(*grants[start:start + BATCH])
            hooks = WebhookSender(pool, settings, Envelopes("notify"), fixed_clock)
            task = asyncio.create_task(hooks.run())
            expected = len(grants) * SUBSCRIPTIONS
            await until(pool, "SELECT count(*) FROM webhook_deliveries WHERE status = "
                              "'delivered'", expected, 600)
            last = time.perf_counter() - started
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            print(f"webhook fan-out                     {expected / last:>9,.0f} deliveries/s  "
                  f"{expected / last / http_ceiling:.2f} of the receiver's ceiling; last "
                  f"delivered {last:.1f} s after the first event ({len(grants):,} events x "
                  f"{SUBSCRIPTIONS} subscriptions)")
    finally:
        smtp.stop()
        await pool.close()
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="messages in flight (NOTIFY_EMAIL_MAX_CONCURRENCY's default)")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra:
        # Bounded: a database that dies under the run must not hang it.
        asyncio.run(asyncio.wait_for(run(args, infra.database_url), 1800))


if __name__ == "__main__":
    main()

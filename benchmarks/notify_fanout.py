"""A phase close fanned out to N unit officials by e-mail, and N webhook deliveries, each to a
real local server, beside those servers' own acceptance rates measured alone in the same run.

Builds a district federation with N grassroots unions under it, each with one union officer
holding an e-mail address, and a campaign organized by the district, through notify's own
handlers (the real consumer, no Kafka). The SMTP server (aiosmtpd) and the webhook receiver
(uvicorn) each run in a process of their own, as they would on their own hosts: in this process
they would share the interpreter with the worker being measured. Then, in order:

1. SMTP ceiling: the SMTP server accepting `--sample` messages, composed beforehand and sent
   straight with aiosmtplib over as many open connections as the e-mail worker may hold (no
   MIME work on the client's side: what the server accepts, not what Python composes);
2. the fan-out: the `thidua.phase.closed.v1` batch (recipients resolved, e-mails rendered and
   queued, in-app messages written and announced), then the e-mail queue worker until the last
   one is accepted: notifications per second, and the time from the event to the last delivery;
3. HTTP ceiling: the receiver taking `--sample` signed POSTs from a bare HTTP/1.1 client over
   as many kept-alive connections as the webhook worker may hold;
4. webhooks: N/10 award events to 10 subscriptions (N deliveries), through the webhook worker.

    python -m benchmarks.notify_fanout [--recipients 10000] [--concurrency 8] [--sample 3000]

Rate limits are lifted for the run (the default `NOTIFY_EMAIL_RATE_PER_S` is a deliberate
brake on the relay, not a ceiling). Uses DATABASE_URL when set, else the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
import uuid
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
from aiosmtpd.controller import Controller
from aiosmtplib.email import flatten_message

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
from services.notify.webhook_clients import EndpointClients
from services.runtime.context import Envelopes
from services.runtime.db import open_schema
from services.runtime.directory import directory_handlers
from services.runtime.logs import configure_logging
from tests.support.events import unit_state
from tests.support.handler_harness import HandlerHarness, ServiceUnderTest, fixed_clock
from tests.support.smtp import free_port

DISTRICT, CAMPAIGN, PHASE = "d-dongda", "cmp-bench", "cmp-bench-p1"
FOUNDED = date(2020, 1, 1)
BATCH = 2000  # CONSUMER_MAX_RECORDS
SUBSCRIPTIONS = 10
MIGRATIONS = Path(__file__).parents[1] / "services" / "notify" / "migrations"


class Counting:
    """An SMTP server's DATA handler that only counts what it accepted."""

    def __init__(self, accepted) -> None:
        self.accepted = accepted  # a multiprocessing.Value shared with the benchmark

    async def handle_DATA(self, server, session, envelope):
        with self.accepted.get_lock():
            self.accepted.value += 1
        return "250 Message accepted for delivery"


def smtp_server(port: int, accepted, stop) -> None:
    """Process body: aiosmtpd on `port` until `stop` is set."""
    controller = Controller(Counting(accepted), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


def http_receiver(port: int, accepted) -> None:
    """Process body: a webhook receiver under uvicorn that reads each POST, counts it and
    answers 204, until terminated."""
    import uvicorn

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        with accepted.get_lock():
            accepted.value += 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                access_log=False)


class Servers:
    """The SMTP server and the webhook receiver, each in a process of its own."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.smtp_port, self.http_port = free_port(), free_port()
        self.smtp_accepted, self.http_accepted = ctx.Value("q", 0), ctx.Value("q", 0)
        self._stop = ctx.Event()
        self._processes = [
            ctx.Process(target=smtp_server, args=(self.smtp_port, self.smtp_accepted,
                                                  self._stop), daemon=True),
            ctx.Process(target=http_receiver, args=(self.http_port, self.http_accepted),
                        daemon=True)]

    def __enter__(self) -> Servers:
        for process in self._processes:
            process.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)

    async def listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for port in (self.smtp_port, self.http_port):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"


def message(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"] = "no-reply@thidua.bench", f"officer-{n}@example.vn"
    m["Subject"] = "Đã kết thúc Đợt 1 — Lao động giỏi, lao động sáng tạo"
    m.set_content("Kính gửi Ban Chấp hành Công đoàn,\n\nĐợt 1 đã khóa sổ.\n" * 3)
    m.add_alternative("<p>Kính gửi Ban Chấp hành Công đoàn,</p><p>Đợt 1 đã khóa sổ.</p>",
                      subtype="html")
    return m


async def smtp_ceiling(port: int, connections: int, sample: int) -> float:
    """Messages per second the SMTP server accepts over `connections` open connections, each
    sending its share of `sample` composed messages one after another."""
    data = [flatten_message(message(i)) for i in range(sample)]

    async def sender(k: int) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
            for i in range(k, sample, connections):
                await client.sendmail("no-reply@thidua.bench", [f"officer-{i}@example.vn"],
                                      data[i], mail_options=["BODY=8BITMIME"])

    started = time.perf_counter()
    await asyncio.gather(*(sender(k) for k in range(connections)))
    return sample / (time.perf_counter() - started)


async def http_ceiling(servers: Servers, connections: int, sample: int, body: bytes) -> float:
    """Requests per second the receiver answers over `connections` kept-alive connections, from
    a bare HTTP/1.1 client (requests signed beforehand: the receiver's rate, not a client's)."""
    secret = signing.new_secret()
    stamp = int(time.time())
    requests = []
    for i in range(sample):
        headers = signing.headers([secret], f"msg-{i}", stamp, body)
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        requests.append((f"POST /ceiling HTTP/1.1\r\nhost: 127.0.0.1\r\n{lines}"
                         f"content-length: {len(body)}\r\n\r\n").encode() + body)

    async def connection(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", servers.http_port)
        try:
            for i in range(k, sample, connections):
                writer.write(requests[i])
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 2"):
                    raise AssertionError(head[:40])
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(k) for k in range(connections)))
    return sample / (time.perf_counter() - started)


async def client_ceiling(servers: Servers, concurrency: int, per_endpoint: int, sample: int,
                         body: bytes) -> float:
    """Requests per second through the webhook worker's own HTTP client (a kept-alive httpx
    pool per endpoint) alone, `concurrency` at a time over the benchmark's subscriptions: what
    the worker could reach if recording outcomes cost nothing."""
    secret = signing.new_secret()
    clients = EndpointClients(per_endpoint, 10)
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with slots:
            answer = await clients.post(
                f"wh-{i % SUBSCRIPTIONS}", servers.url(f"/hook-{i % SUBSCRIPTIONS}"), body,
                signing.headers([secret], f"msg-{i}", int(time.time()), body))
            answer.raise_for_status()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(sample)))
        return sample / (time.perf_counter() - started)
    finally:
        await clients.aclose()


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


async def run(args: argparse.Namespace, database_url: str, servers: Servers) -> None:
    n, concurrency = args.recipients, args.concurrency
    sample = min(args.sample, n)
    schema = f"bench_notify_{uuid.uuid4().hex[:8]}"
    pool = await open_schema(database_url, schema, ("notify", MIGRATIONS), max_size=16)
    try:
        await servers.listening()
        harness = HandlerHarness(pool, ServiceUnderTest(
            "notify", handlers.including(directory_handlers), NotifyRepository), fixed_clock)
        await seed(harness, pool, n)
        settings = NotifySettings(
            smtp_host="127.0.0.1", smtp_port=servers.smtp_port,
            smtp_sender="no-reply@thidua.bench", email_max_concurrency=concurrency,
            email_rate_per_s=1e9, email_batch_size=200, email_poll_interval_ms=20,
            webhook_max_concurrency=concurrency,
            webhook_max_per_endpoint=max(1, concurrency // 2), webhook_rate_per_s=1e9,
            webhook_batch_size=200, webhook_poll_interval_ms=20, webhook_timeout_s=10)

        # 1. The SMTP server alone, over as many open connections as the worker may use.
        smtp_rate = await smtp_ceiling(servers.smtp_port, concurrency, sample)
        print(f"ceiling  SMTP server alone          {smtp_rate:>9,.0f} messages/s  "
              f"({sample:,} composed messages sent straight with aiosmtplib over "
              f"{concurrency} open connections)")

        # 2. The phase close.
        before = servers.smtp_accepted.value
        closed = new_event(PhaseClosed(campaign_id=CAMPAIGN, phase_id=PHASE,
                                       closed_at=datetime.now(UTC), closed_by_unit_id=DISTRICT,
                                       accepted_counts={}),
                           source="/thidua/registration", district=DISTRICT)
        started = time.perf_counter()
        await harness.apply(closed)
        queued = time.perf_counter() - started
        cpu = time.process_time()
        worker = EmailSender(pool, settings, Envelopes("notify"), fixed_clock)
        task = asyncio.create_task(worker.run())
        await until(pool, "SELECT count(*) FROM deliveries WHERE status = 'sent'", n, 900)
        last = time.perf_counter() - started
        cpu = time.process_time() - cpu
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        in_app = await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE template = 'phase_closed'")
        if (servers.smtp_accepted.value - before, in_app) != (n, n):
            raise AssertionError(f"{servers.smtp_accepted.value - before} e-mails accepted and "
                                 f"{in_app} in-app messages for {n} officials")
        print(f"phase close handled                 {queued:>9.2f} s  ({n:,} officials "
              f"resolved, {n:,} in-app written and announced, {n:,} e-mails queued)")
        print(f"e-mail fan-out                      {n / last:>9,.0f} notifications/s  "
              f"{n / last / smtp_rate:.2f} of the SMTP ceiling; last delivered "
              f"{last:.1f} s after the event; the worker's process used {cpu:.1f} s of CPU "
              f"({cpu / n * 1000:.2f} ms per message)")

        # 3. The webhook receiver alone, then 4. through the webhook worker.
        http_rate = await http_ceiling(servers, concurrency, sample,
                                       closed.model_dump_json().encode())
        print(f"ceiling  webhook receiver alone     {http_rate:>9,.0f} requests/s  "
              f"({sample:,} signed POSTs from a bare HTTP/1.1 client over {concurrency} "
              f"kept-alive connections)")
        client_rate = await client_ceiling(servers, concurrency, settings.webhook_max_per_endpoint,
                                           sample, closed.model_dump_json().encode())
        print(f"ceiling  the worker's HTTP client   {client_rate:>9,.0f} requests/s  "
              f"({sample:,} signed POSTs through httpx, one kept-alive pool per endpoint, "
              f"concurrency {concurrency}: the client library's own cost)")
        for s in range(SUBSCRIPTIONS):
            await webhook_store.create_webhook(
                pool, f"wh-{s}", "bench:integrator", servers.url(f"/hook-{s}"),
                ["thidua.award.granted.v1"], DISTRICT, signing.new_secret())
        grants = [new_event(AwardGranted(
            unit_id=f"g-{i:05d}", campaign_id=CAMPAIGN, subject_kind="unit",
            subject_id=f"g-{i:05d}", title="emulation_flag", level="district",
            award_id=f"aw-{i}", subject_name=f"Công đoàn g-{i:05d}",
            decision_number=f"{i}/QĐ-LĐLĐ", decision_date=date(2025, 7, 1),
            issuer_unit_id=DISTRICT, issuer_name="LĐLĐ quận Đống Đa",
            granted_at=datetime.now(UTC)), source="/thidua/awards", district=DISTRICT)
            for i in range(n // SUBSCRIPTIONS)]
        before = servers.http_accepted.value
        started = time.perf_counter()
        for start in range(0, len(grants), BATCH):
            await harness.apply(*grants[start:start + BATCH])
        cpu = time.process_time()
        hooks = WebhookSender(pool, settings, Envelopes("notify"), fixed_clock)
        task = asyncio.create_task(hooks.run())
        expected = len(grants) * SUBSCRIPTIONS
        await until(pool, "SELECT count(*) FROM webhook_deliveries WHERE status = "
                          "'delivered'", expected, 900)
        last = time.perf_counter() - started
        cpu = time.process_time() - cpu
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if servers.http_accepted.value - before != expected:
            raise AssertionError(f"{servers.http_accepted.value - before} webhook requests "
                                 f"answered for {expected} deliveries")
        print(f"webhook fan-out                     {expected / last:>9,.0f} deliveries/s  "
              f"{expected / last / http_rate:.2f} of the receiver's ceiling, "
              f"{expected / last / client_rate:.2f} of its client's; last "
              f"delivered {last:.1f} s after the first event ({len(grants):,} events x "
              f"{SUBSCRIPTIONS} subscriptions); the worker's process used {cpu:.1f} s of CPU "
              f"({cpu / expected * 1000:.2f} ms per delivery)")
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} cores")
    finally:
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
    parser.add_argument("--sample", type=int, default=3000,
                        help="messages and requests each server's ceiling is measured with")
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra, Servers() as servers:
        # Bounded: a database that dies under the run must not hang it.
        asyncio.run(asyncio.wait_for(run(args, infra.database_url, servers), 2400))


if __name__ == "__main__":
    main()

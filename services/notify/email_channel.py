"""The e-mail channel of the queue worker (`queue.py`): rows of `deliveries` handed to the SMTP
relay, each outcome recorded and announced through the outbox.

Each step is a short transaction of its own; no transaction is open while a message travels.

1. **Claim**: due `pending` rows, leased for `NOTIFY_EMAIL_CLAIM_LEASE_S` (by default sized
   from `NOTIFY_SMTP_TIMEOUT_S`: `NotifySettings.email_lease_s`).
2. **Send** paced by `NOTIFY_EMAIL_RATE_PER_S` and `NOTIFY_EMAIL_MAX_CONCURRENCY`.
3. **Record**: `sent` with `thidua.notification.delivered.v1`, or a new `next_attempt_at`
   (backoff doubling from `NOTIFY_EMAIL_RETRY_BACKOFF_S`), or — after
   `NOTIFY_EMAIL_MAX_ATTEMPTS`, on a permanent refusal (5xx) or with no address left —
   `failed` with `thidua.notification.failed.v1`. A row already `sent` is never sent again.

The unavoidable window: a crash after the relay accepted a message and before step 3 committed
sends it once more when the lease runs out; at most twice `NOTIFY_EMAIL_MAX_CONCURRENCY`
messages are in flight or awaiting their record at any moment (`QueueWorker`). The copy carries
the same `Message-ID` (derived from the notification id), so mail clients and archives can drop
it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiosmtplib
import asyncpg
import structlog

from contracts.events.notifications import NotificationDelivered, NotificationFailed
from services.runtime import outbox
from services.runtime.context import Clock, Envelopes

from . import mail
from .outcome_records import EMAILS, record_outcomes
from .queue import Outcome, Outcomes, Pacing, QueueWorker
from .settings import NotifySettings

log = structlog.get_logger()

Transport = Callable[[mail.Outgoing], Awaitable[object]]

BODIES_KEPT = 256  # distinct shared bodies (and flattened messages) kept in memory


class PermanentFailure(Exception):
    """A message that no retry can deliver."""


class SmtpRelay:
    """Connections to the relay kept open and reused, at most one per message in flight: a
    fan-out to thousands costs thousands of DATA exchanges, not thousands of handshakes. A
    connection that failed in any way but a refusal of one message is dropped, not reused.

    A relay announcing 8BITMIME (any current MTA) gets the message's bytes as composed
    (`mail.Outgoing.data`: the shared part flattened once per notice); one without it, or an
    address that needs encoding, gets the message flattened by aiosmtplib as before."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, use_tls=s.smtp_tls,
            start_tls=s.smtp_starttls if not s.smtp_tls else False,
            username=s.smtp_username or None,
            password=s.smtp_password.get_secret_value() or None, timeout=s.smtp_timeout_s)

    async def __call__(self, outgoing: mail.Outgoing) -> object:
        client = None
        while self._idle and client is None:
            candidate = self._idle.pop()
            client = candidate if candidate.is_connected else None
        if client is None:
            client = self._client()
            await client.connect()
        try:
            if outgoing.plain and client.supports_extension("8bitmime"):
                answer = await client.sendmail(
                    outgoing.envelope_sender, [outgoing.to], outgoing.data(),
                    mail_options=["BODY=8BITMIME"])
            else:
                answer = await client.send_message(outgoing.message())
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPDataError,
                aiosmtplib.SMTPSenderRefused) as exc:
            # The relay refused this message and stays in the conversation: reset and reuse.
            if getattr(exc, "code", 0) != 421 and client.is_connected:
                try:
                    await client.rset()
                    self._idle.append(client)
                except aiosmtplib.SMTPException:
                    client.close()
            else:
                client.close()
            raise
        except BaseException:
            client.close()
            raise
        self._idle.append(client)
        return answer

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


def describe(exc: BaseException) -> str:
    """The error as announced and stored: never the server's text, which may quote the
    recipient's address."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "recipient refused by the SMTP relay"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP {exc.code} from the relay"
    if isinstance(exc, PermanentFailure):
        return str(exc)
    if isinstance(exc, (asyncio.TimeoutError, aiosmtplib.SMTPTimeoutError)):
        return "SMTP relay timed out"
    return f"{type(exc).__name__} talking to the SMTP relay"


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, PermanentFailure | aiosmtplib.SMTPRecipientsRefused):
        return True
    return isinstance(exc, aiosmtplib.SMTPResponseException) and 500 <= exc.code < 600


class EmailChannel:
    """The `deliveries` table and the SMTP relay, for `QueueWorker`."""

    name = "email"

    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings, envelopes: Envelopes,
                 clock: Clock, transport: Transport | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.envelopes = envelopes
        self.clock = clock
        self.relay = SmtpRelay(settings)
        self._bodies: dict[str, tuple[str, str]] = {}  # body id -> (text, HTML)
        self._shared: dict[tuple[str, str, str], mail.Shared] = {}  # (body, subject, language)
        self.transport = transport or self.relay
        self.domain = settings.email_message_id_domain or mail.domain_of(settings.smtp_sender)
        s = settings
        self.pacing = Pacing(
            rate_per_s=s.email_rate_per_s, concurrency=s.email_max_concurrency,
            per_endpoint=s.email_max_concurrency, batch_size=s.email_batch_size,
            poll_interval_s=s.email_poll_interval_ms / 1000, max_attempts=s.email_max_attempts,
            backoff_s=s.email_retry_backoff_s, backoff_max_s=s.email_retry_backoff_max_s,
            breaker_failures=s.email_breaker_failures, breaker_open_s=s.email_breaker_open_s)

    def endpoint(self, row: dict) -> str:
        return "relay"  # one relay: its pacing is the channel's

    def row_id(self, row: dict) -> str:
        return row["notification_id"]

    async def claim(self, limit: int, excluded: list[str],
                    free: dict[str, int] | None = None) -> list[dict]:
        # One relay: its slots are the channel's concurrency, which bounds the claim already,
        # but a trial after its circuit's pause is a single row (`free`).
        if "relay" in excluded:
            return []
        limit = min(limit, (free or {}).get("relay", limit))
        rows = await self.pool.fetch(
            """WITH due AS (
                   SELECT notification_id FROM deliveries
                   WHERE status = 'pending' AND next_attempt_at <= now()
                   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
               UPDATE deliveries d
               SET attempts = d.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => $2)
               FROM due WHERE d.notification_id = due.notification_id
               RETURNING d.*, (SELECT c.email FROM member_contacts c
                               WHERE c.member_id = d.recipient_id) AS email""",
            limit, self.settings.email_lease_s,
        )
        claimed = [dict(row) for row in rows]
        await self._fill_bodies(claimed)
        return claimed

    async def _fill_bodies(self, rows: list[dict]) -> None:
        """Shared bodies (`message_bodies`) read once per process, not once per row: a claim of
        a fan-out's rows names one or two bodies, kilobytes each."""
        missing = {r["body_id"] for r in rows if r["body_id"] and r["body_id"] not in self._bodies}
        if missing:
            if len(self._bodies) + len(missing) > BODIES_KEPT:
                self._bodies.clear()
            for b in await self.pool.fetch(
                    """SELECT body_id, text_body, html_body FROM message_bodies
                       WHERE body_id = ANY($1::text[])""", list(missing)):
                self._bodies[b["body_id"]] = (b["text_body"], b["html_body"])
        for r in rows:
            if r["body_id"]:
                r["text_body"], r["html_body"] = self._bodies[r["body_id"]]

    async def send(self, row: dict) -> Outcome:
        try:
            if not row["email"]:
                raise PermanentFailure("no e-mail address on record")
            await self.transport(mail.Outgoing(
                self._shared_part(row), row["email"], row["notification_id"], self.domain,
                self.clock()))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return Outcome(describe(exc), permanent=is_permanent(exc))
        return Outcome()

    def _shared_part(self, row: dict) -> mail.Shared:
        """Flattened once per (shared body, subject, language); a digest's own body each time."""
        def build() -> mail.Shared:
            return mail.shared(sender=self.settings.smtp_sender, subject=row["subject"],
                               text=row["text_body"], html=row["html_body"],
                               language=row["language"])

        if not row["body_id"]:
            return build()
        key = (row["body_id"], row["subject"], row["language"])
        part = self._shared.get(key)
        if part is None:
            if len(self._shared) >= BODIES_KEPT:
                self._shared.clear()
            part = self._shared[key] = build()
        return part

    async def close(self) -> None:
        await self.relay.close()

    def _announce(self, row: dict, data) -> object:
        return self.envelopes.for_command(
            data, district=row["district"], correlation_id=row["correlation_id"],
            subject=row["recipient_id"], causation_id=row["source_event_id"],
        )

    def _common(self, row: dict) -> dict:
        return {"notification_id": row["notification_id"], "recipient_id": row["recipient_id"],
                "recipient_kind": row["recipient_kind"], "channel": row["channel"],
                "template": row["template"], "subject": row["subject"],
                "source_event_id": row["source_event_id"], "attempts": row["attempts"]}

    async def record(self, outcomes: Outcomes) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            sent, failed = await record_outcomes(conn, EMAILS, outcomes)
            now = self.clock()
            await outbox.enqueue(conn, [
                self._announce(r, NotificationDelivered(**self._common(r), delivered_at=now))
                for r in outcomes.delivered if r["notification_id"] in sent] + [
                self._announce(r, NotificationFailed(**self._common(r), error=e, failed_at=now))
                for r, e in outcomes.given_up if r["notification_id"] in failed])
        if sent:
            log.info("emails_sent", count=len(sent))
        for row, error, _ in outcomes.retries:
            log.warning("email_retry", notification_id=row["notification_id"],
                        attempts=row["attempts"], error=error)
        for row, error in outcomes.given_up:
            log.warning("email_failed", notification_id=row["notification_id"],
                        attempts=row["attempts"], error=error)


class EmailSender(QueueWorker):
    """The e-mail queue worker."""

    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings, envelopes: Envelopes,
                 clock: Clock, transport: Transport | None = None) -> None:
        super().__init__(EmailChannel(pool, settings, envelopes, clock, transport))


async def run_email_sender(runtime) -> None:
    """The worker task the runtime starts beside the consumer (`ServiceDefinition.workers`)."""
    d = runtime.definition
    await EmailSender(runtime.pool, d.settings, runtime.envelopes, d.clock).run()

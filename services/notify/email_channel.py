"""The e-mail channel of the queue worker (`queue.py`): rows of `deliveries` handed to the SMTP
relay, each outcome recorded and announced through the outbox.

Each step is a short transaction of its own; no transaction is open while a message travels.

1. **Claim**: due `pending` rows, leased for `NOTIFY_EMAIL_CLAIM_LEASE_S`.
2. **Send** paced by `NOTIFY_EMAIL_RATE_PER_S` and `NOTIFY_EMAIL_MAX_CONCURRENCY`.
3. **Record**: `sent` with `thidua.notification.delivered.v1`, or a new `next_attempt_at`
   (backoff doubling from `NOTIFY_EMAIL_RETRY_BACKOFF_S`), or — after
   `NOTIFY_EMAIL_MAX_ATTEMPTS`, on a permanent refusal (5xx) or with no address left —
   `failed` with `thidua.notification.failed.v1`. A row already `sent` is never sent again.

The unavoidable window: a crash after the relay accepted a message and before step 3 committed
sends it once more when the lease runs out. The copy carries the same `Message-ID` (derived
from the notification id), so mail clients and archives can drop it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from email.message import EmailMessage

import aiosmtplib
import asyncpg
import structlog

from contracts.events.notifications import NotificationDelivered, NotificationFailed
from services.runtime import outbox
from services.runtime.context import Clock, Envelopes

from . import mail
from .queue import Outcome, Pacing, QueueWorker
from .settings import NotifySettings

log = structlog.get_logger()

Transport = Callable[[EmailMessage], Awaitable[object]]


class PermanentFailure(Exception):
    """A message that no retry can deliver."""


def smtp_transport(settings: NotifySettings) -> Transport:
    async def send(message: EmailMessage) -> object:
        return await aiosmtplib.send(
            message, hostname=settings.smtp_host, port=settings.smtp_port,
            start_tls=settings.smtp_starttls if not settings.smtp_tls else False,
            use_tls=settings.smtp_tls, username=settings.smtp_username or None,
            password=settings.smtp_password.get_secret_value() or None,
            timeout=settings.smtp_timeout_s,
        )
    return send


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
        self.transport = transport or smtp_transport(settings)
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

    async def claim(self, limit: int, excluded: list[str]) -> list[dict]:
        if "relay" in excluded:
            return []
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
            limit, self.settings.email_claim_lease_s,
        )
        return [dict(row) for row in rows]

    async def send(self, row: dict) -> Outcome:
        try:
            if not row["email"]:
                raise PermanentFailure("no e-mail address on record")
            message = mail.build_message(
                sender=self.settings.smtp_sender, to=row["email"], subject=row["subject"],
                text=row["text_body"], html=row["html_body"],
                notification_id=row["notification_id"], domain=self.domain,
                language=row["language"], sent_at=self.clock(),
            )
            await self.transport(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return Outcome(describe(exc), permanent=is_permanent(exc))
        return Outcome()

    async def close(self) -> None:
        return None

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

    async def delivered(self, row: dict) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                """UPDATE deliveries SET status = 'sent', finished_at = now(), last_error = NULL
                   WHERE notification_id = $1 AND status = 'pending' RETURNING 1""",
                row["notification_id"])
            if done:
                await outbox.enqueue(conn, [self._announce(row, NotificationDelivered(
                    **self._common(row), delivered_at=self.clock()))])
        log.info("email_sent", notification_id=row["notification_id"], attempts=row["attempts"])

    async def retry(self, row: dict, error: str, delay_s: float) -> None:
        await self.pool.execute(
            """UPDATE deliveries SET last_error = $2,
                   next_attempt_at = now() + make_interval(secs => $3)
               WHERE notification_id = $1 AND status = 'pending'""",
            row["notification_id"], error, float(delay_s))
        log.warning("email_retry", notification_id=row["notification_id"],
                    attempts=row["attempts"], error=error)

    async def give_up(self, row: dict, error: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                """UPDATE deliveries SET status = 'failed', last_error = $2, finished_at = now()
                   WHERE notification_id = $1 AND status = 'pending' RETURNING 1""",
                row["notification_id"], error)
            if done:
                await outbox.enqueue(conn, [self._announce(row, NotificationFailed(
                    **self._common(row), error=error, failed_at=self.clock()))])
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

"""The webhook channel of the queue worker (`queue.py`): rows of `webhook_deliveries` POSTed as
the event's CloudEvent JSON to their subscription's URL, signed per Standard Webhooks, each
outcome recorded and announced (`thidua.notification.delivered.v1` / `…failed.v1`, channel
`webhook`, recipient the subscription).

1. **Claim** (one statement): due `pending` rows, at most the endpoint's free slots of each
   endpoint (so one endpoint's backlog never fills a claim), skipping endpoints whose slots are
   all taken or whose circuit is open; leased for `NOTIFY_WEBHOOK_CLAIM_LEASE_S`.
2. **Send** under the endpoint's slots (`NOTIFY_WEBHOOK_MAX_PER_ENDPOINT`), the channel's bound
   (`NOTIFY_WEBHOOK_MAX_CONCURRENCY`) and rate (`NOTIFY_WEBHOOK_RATE_PER_S`).
3. **Record**: a 2xx answer delivers; otherwise due again after a backoff doubling from
   `NOTIFY_WEBHOOK_RETRY_BACKOFF_S` (capped, with jitter); after `NOTIFY_WEBHOOK_MAX_ATTEMPTS`
   it is `parked` until replayed.

A crash between the receiver's answer and step 3 sends the message once more; it carries the
same `webhook-id`, by which receivers drop duplicates.
"""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
import structlog

from contracts.events.notifications import NotificationDelivered, NotificationFailed
from services.runtime import outbox
from services.runtime.context import Clock, Envelopes, system_clock

from . import signing
from .outcome_records import WEBHOOKS, record_outcomes
from .queue import Outcome, Outcomes, Pacing, QueueWorker
from .settings import NotifySettings
from .webhook_clients import EndpointClients

log = structlog.get_logger()


class WebhookChannel:
    name = "webhook"

    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings, envelopes: Envelopes,
                 clock: Clock, client: httpx.AsyncClient | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.envelopes = envelopes
        self.clock = clock
        self.client = EndpointClients(settings.webhook_max_per_endpoint,
                                      settings.webhook_timeout_s, client)
        s = settings
        self.pacing = Pacing(
            rate_per_s=s.webhook_rate_per_s, concurrency=s.webhook_max_concurrency,
            per_endpoint=s.webhook_max_per_endpoint, batch_size=s.webhook_batch_size,
            poll_interval_s=s.webhook_poll_interval_ms / 1000,
            max_attempts=s.webhook_max_attempts, backoff_s=s.webhook_retry_backoff_s,
            backoff_max_s=s.webhook_retry_backoff_max_s,
            breaker_failures=s.webhook_breaker_failures, breaker_open_s=s.webhook_breaker_open_s)

    def endpoint(self, row: dict) -> str:
        return row["webhook_id"]

    def row_id(self, row: dict) -> str:
        return row["delivery_id"]

    async def claim(self, limit: int, excluded: list[str],
                    free: dict[str, int] | None = None) -> list[dict]:
        await self.client.prune()
        free = free or {}
        rows = await self.pool.fetch(
            """WITH due AS (
                   SELECT d.delivery_id
                   FROM webhooks w
                   LEFT JOIN unnest($5::text[], $6::int[]) AS f (webhook_id, slots)
                          ON f.webhook_id = w.webhook_id
                   CROSS JOIN LATERAL (
                       SELECT d.delivery_id, d.next_attempt_at FROM webhook_deliveries d
                       WHERE d.webhook_id = w.webhook_id AND d.status = 'pending'
                         AND d.next_attempt_at <= now()
                       ORDER BY d.next_attempt_at LIMIT coalesce(f.slots, $4)
                       FOR UPDATE SKIP LOCKED) d
                   WHERE NOT w.webhook_id = ANY($3::text[])
                   ORDER BY d.next_attempt_at LIMIT $1)
               UPDATE webhook_deliveries d
               SET attempts = d.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => $2)
               FROM due, webhooks w
               WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
               RETURNING d.delivery_id, d.webhook_id, d.event_id, d.event_type, d.body,
                         d.attempts, w.url, extract(epoch FROM now())::bigint AS now,
                         ARRAY(SELECT s.secret FROM webhook_secrets s
                               WHERE s.webhook_id = d.webhook_id
                                 AND (s.expires_at IS NULL OR s.expires_at > now())
                               ORDER BY s.created_at DESC) AS secrets""",
            limit, self.settings.webhook_claim_lease_s, excluded,
            self.settings.webhook_max_per_endpoint, list(free), list(free.values()))
        return [dict(r) for r in rows]

    async def send(self, row: dict) -> Outcome:
        body = row["body"].encode()
        try:
            answer = await self.client.post(
                row["webhook_id"], row["url"], body,
                signing.headers(row["secrets"], row["delivery_id"], row["now"], body))
        except asyncio.CancelledError:
            raise
        except httpx.HTTPError as exc:
            return Outcome(f"{type(exc).__name__} reaching the endpoint")
        return Outcome(None if answer.is_success else f"HTTP {answer.status_code}")

    async def close(self) -> None:
        await self.client.aclose()

    def _announce(self, row: dict, data) -> object:
        event = json.loads(row["body"])
        return self.envelopes.for_command(
            data, district=event.get("district"), correlation_id=event.get("correlationid"),
            subject=row["webhook_id"], causation_id=row["event_id"])

    def _common(self, row: dict) -> dict:
        return {"notification_id": row["delivery_id"], "recipient_id": row["webhook_id"],
                "recipient_kind": "integrator", "channel": "webhook", "template": "webhook",
                "subject": row["event_type"], "source_event_id": row["event_id"],
                "attempts": row["attempts"]}

    async def record(self, outcomes: Outcomes) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            delivered, parked = await record_outcomes(conn, WEBHOOKS, outcomes)
            now = self.clock()
            await outbox.enqueue(conn, [
                self._announce(r, NotificationDelivered(**self._common(r), delivered_at=now))
                for r in outcomes.delivered if r["delivery_id"] in delivered] + [
                self._announce(r, NotificationFailed(**self._common(r), error=e, failed_at=now))
                for r, e in outcomes.given_up if r["delivery_id"] in parked])
        if delivered:
            log.info("webhooks_delivered", count=len(delivered))
        for row, error, _ in outcomes.retries:
            log.info("webhook_retry", delivery_id=row["delivery_id"], error=error)
        for row, error in outcomes.given_up:
            log.warning("webhook_parked", delivery_id=row["delivery_id"], error=error)


class WebhookSender(QueueWorker):
    """The webhook queue worker."""

    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings,
                 envelopes: Envelopes | None = None, clock: Clock = system_clock,
                 client: httpx.AsyncClient | None = None) -> None:
        super().__init__(WebhookChannel(pool, settings, envelopes or Envelopes("notify", clock),
                                        clock, client))
        self.client = self.channel.client


async def run_webhook_sender(runtime) -> None:
    """The worker task the runtime starts beside the consumer (`ServiceDefinition.workers`)."""
    d = runtime.definition
    await WebhookSender(runtime.pool, d.settings, runtime.envelopes, d.clock).run()

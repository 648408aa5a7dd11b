"""The webhook sender: claims due rows of `webhook_deliveries`, POSTs each event's CloudEvent
JSON to its subscription's URL signed per Standard Webhooks, and records the outcome.

1. **Claim** (one statement): due `pending` rows, oldest first, `FOR UPDATE SKIP LOCKED`,
   skipping endpoints that already have `NOTIFY_WEBHOOK_MAX_PER_ENDPOINT` requests in flight
   here; each claimed row's `attempts` grows by one and it is leased ahead
   (`NOTIFY_WEBHOOK_CLAIM_LEASE_S`), so a sender that dies mid-send leaves it due again.
2. **Send** as a task of its own under the endpoint's semaphore: a slow receiver only ties up
   its own slots, never the next claim or other endpoints.
3. **Record**: a 2xx answer marks the row `delivered`; otherwise it is due again after a
   backoff doubling from `NOTIFY_WEBHOOK_RETRY_BACKOFF_S` (capped, with jitter); after
   `NOTIFY_WEBHOOK_MAX_ATTEMPTS` it is `parked` until replayed.

A crash between the receiver's answer and step 3 sends the message once more; it carries the
same `webhook-id`, by which receivers drop duplicates.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import asyncpg
import httpx
import structlog

from . import signing
from .settings import NotifySettings

log = structlog.get_logger()


class WebhookSender:
    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings,
                 client: httpx.AsyncClient | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.client = client or httpx.AsyncClient(timeout=settings.webhook_timeout_s)
        self._slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.webhook_max_per_endpoint))
        self._in_flight: dict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        idle = self.settings.webhook_poll_interval_ms / 1000
        try:
            while True:
                try:
                    claimed = await self.claim()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("webhook_sender_error", error=type(exc).__name__)
                    claimed = []
                for row in claimed:
                    task = asyncio.create_task(self._deliver(row))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                await asyncio.sleep(0 if claimed else idle)
        finally:
            for task in self._tasks:
                task.cancel()
            await self.client.aclose()

    async def run_once(self) -> int:
        """Claim one batch and wait for every request of it; returns how many were claimed."""
        rows = await self.claim()
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def claim(self) -> list[dict]:
        busy = [w for w, n in self._in_flight.items()
                if n >= self.settings.webhook_max_per_endpoint]
        rows = await self.pool.fetch(
            """WITH due AS (
                   SELECT d.delivery_id FROM webhook_deliveries d
                   WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                     AND NOT d.webhook_id = ANY($3::text[])
                   ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
               UPDATE webhook_deliveries d
               SET attempts = d.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => $2)
               FROM due, webhooks w
               WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
               RETURNING d.delivery_id, d.webhook_id, d.body, d.attempts, w.url,
                         extract(epoch FROM now())::bigint AS now,
                         ARRAY(SELECT s.secret FROM webhook_secrets s
                               WHERE s.webhook_id = d.webhook_id
                                 AND (s.expires_at IS NULL OR s.expires_at > now())
                               ORDER BY s.created_at DESC) AS secrets""",
            self.settings.webhook_batch_size, self.settings.webhook_claim_lease_s, busy)
        claimed = [dict(r) for r in rows]
        for row in claimed:
            self._in_flight[row["webhook_id"]] += 1
        return claimed

    async def _deliver(self, row: dict) -> None:
        webhook_id = row["webhook_id"]
        try:
            body = row["body"].encode()
            try:
                async with self._slots[webhook_id]:
                    answer = await self.client.post(
                        row["url"], content=body,
                        headers=signing.headers(row["secrets"], row["delivery_id"],
                                                row["now"], body))
                error = None if answer.is_success else f"HTTP {answer.status_code}"
            except asyncio.CancelledError:
                raise
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__} reaching the endpoint"
            await self._record(row, error)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database failed: the lease makes the row due again
            log.warning("webhook_outcome_not_recorded", error=type(exc).__name__)
        finally:
            self._in_flight[webhook_id] -= 1

    def backoff(self, attempts: int) -> float:
        s = self.settings
        delay = min(s.webhook_retry_backoff_s * 2 ** (attempts - 1), s.webhook_retry_backoff_max_s)
        return delay * random.uniform(0.5, 1.0)

    async def _record(self, row: dict, error: str | None) -> None:
        if error is None:
            await self.pool.execute(
                """UPDATE webhook_deliveries SET status = 'delivered', last_error = NULL,
                       finished_at = now() WHERE delivery_id = $1 AND status = 'pending'""",
                row["delivery_id"])
            log.info("webhook_delivered", delivery_id=row["delivery_id"],
                     attempts=row["attempts"])
        elif row["attempts"] >= self.settings.webhook_max_attempts:
            await self.pool.execute(
                """UPDATE webhook_deliveries SET status = 'parked', last_error = $2,
                       finished_at = now() WHERE delivery_id = $1 AND status = 'pending'""",
                row["delivery_id"], error)
            log.warning("webhook_parked", delivery_id=row["delivery_id"], error=error)
        else:
            await self.pool.execute(
                """UPDATE webhook_deliveries SET last_error = $2,
                       next_attempt_at = now() + make_interval(secs => $3)
                   WHERE delivery_id = $1 AND status = 'pending'""",
                row["delivery_id"], error, self.backoff(row["attempts"]))
            log.info("webhook_retry", delivery_id=row["delivery_id"], error=error)


async def run_webhook_sender(runtime) -> None:
    """The worker task the runtime starts beside the consumer (`ServiceDefinition.workers`)."""
    await WebhookSender(runtime.pool, runtime.definition.settings).run()

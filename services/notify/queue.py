"""One worker loop for every network channel (e-mail, webhooks): claim due rows, send them
paced, record each outcome. What differs per channel — its table, how a row is sent, what an
outcome writes — sits behind `Channel`.

1. **Claim** (one statement, the channel's): due rows, oldest first, `FOR UPDATE SKIP LOCKED`
   so replicas take disjoint rows; each claimed row's attempt is counted and the row leased
   ahead, so a worker that dies mid-send leaves it due again, not lost. Endpoints whose slots
   are all taken here, or whose circuit is open, are left out of the claim.
2. **Send** each row as a task of its own under the channel's pacing: a rate limit
   (`aiolimiter`, messages per second), a bound on messages in flight, and a bound per
   endpoint (`Channel.endpoint`), so one slow or dead endpoint only ties up its own slots.
3. **Record** (group commit: one short transaction for every outcome that arrived meanwhile,
   one statement per kind, the channel's): delivered, due again after a backoff (doubling,
   capped, with jitter), or given up after the last attempt or a permanent refusal. The next
   sends go while a commit runs, but no more than `concurrency` outcomes wait for theirs: a
   crash leaves at most twice `concurrency` rows sent and unrecorded (sent again when their
   lease runs out).

An endpoint failing `breaker_failures` times in a row has its circuit opened for
`breaker_open_s`: its rows stay due, untouched (no attempt is spent on them). After the pause
one trial request goes, alone (the claim takes a single row of that endpoint and no more while
it is out): a success closes the circuit, a failure opens it again at once.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from aiolimiter import AsyncLimiter
from prometheus_client import Counter, Gauge

from .circuit_breaker import Breaker

log = structlog.get_logger()

SENT = Counter("thidua_notify_sends_total",
               "Send attempts by channel and outcome: delivered, retry, given_up.",
               ["channel", "outcome"])
IN_FLIGHT = Gauge("thidua_notify_in_flight", "Messages being sent right now, by channel.",
                  ["channel"])
QUEUED = Counter("thidua_notify_queued_total",
                 "Notifications written by the consumer, by channel: in_app (delivered at once), "
                 "email, digest (held for the daily digest), webhook.", ["channel"])
DIGESTS = Counter("thidua_notify_digests_total", "Daily digest e-mails queued.")
OPEN_CIRCUITS = Gauge("thidua_notify_open_circuits",
                      "Endpoints whose circuit is open (paused after repeated failures).",
                      ["channel"])


@dataclass(frozen=True)
class Pacing:
    rate_per_s: float  # messages started per second, per replica
    concurrency: int  # messages in flight at once, per replica
    per_endpoint: int  # of which to one endpoint
    batch_size: int  # rows one claim takes
    poll_interval_s: float  # how often an idle worker looks for due rows
    max_attempts: int
    backoff_s: float  # delay after the first failed attempt, doubling
    backoff_max_s: float
    breaker_failures: int = 5  # failures in a row that open an endpoint's circuit
    breaker_open_s: float = 30.0  # how long it stays open before a trial request


@dataclass(frozen=True)
class Outcome:
    error: str | None = None  # None: delivered
    permanent: bool = False  # no retry can deliver it


@dataclass
class Outcomes:
    """What a group commit records."""

    delivered: list[dict] = field(default_factory=list)
    retries: list[tuple[dict, str, float]] = field(default_factory=list)  # row, error, delay
    given_up: list[tuple[dict, str]] = field(default_factory=list)  # row, error

    def __bool__(self) -> bool:
        return bool(self.delivered or self.retries or self.given_up)


class Channel(Protocol):
    name: str
    pacing: Pacing

    async def claim(self, limit: int, excluded: list[str],
                    free: dict[str, int] | None = None) -> list[dict]:
        """Due rows, attempts counted and leased; none of the `excluded` endpoints, and of an
        endpoint in `free` at most that many (its slots not yet taken)."""

    def endpoint(self, row: dict) -> str:
        """What a row is sent to (a webhook subscription; the relay for e-mail)."""

    def row_id(self, row: dict) -> str:
        """The row's key in its table."""

    async def send(self, row: dict) -> Outcome: ...

    async def record(self, outcomes: Outcomes) -> None:
        """Record the outcomes in one transaction, one statement per kind, and announce the
        delivered and given-up rows (a row no longer pending is left as it is)."""

    async def close(self) -> None: ...


class QueueWorker:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        p = channel.pacing
        self.limiter = AsyncLimiter(p.rate_per_s, 1.0)
        self._slots = asyncio.Semaphore(p.concurrency)
        self._endpoint_slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(p.per_endpoint))
        self._in_flight: dict[str, int] = defaultdict(int)  # claimed, not yet sent, per endpoint
        self._unsent = 0  # claimed rows not yet sent
        self._freed = asyncio.Event()  # set when a send finishes: room for the next claim
        self._tasks: set[asyncio.Task] = set()
        # Sends started and not yet recorded: bounds what a crash can have sent without a
        # record (each such row goes once more when its lease runs out).
        self._window = asyncio.Semaphore(2 * p.concurrency)
        self._held: set[str] = set()  # ids of the rows this worker holds
        self.breaker = Breaker(p.breaker_failures, p.breaker_open_s)
        self._outcomes = Outcomes()
        self._recording = asyncio.Lock()

    async def run(self) -> None:
        """Send forever: claim again as soon as there is room, else every poll interval."""
        try:
            while True:
                try:
                    claimed = await self.claim() if self._room() else []
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("notify_queue_error", channel=self.channel.name,
                                error=type(exc).__name__)
                    claimed = []
                for row in claimed:
                    task = asyncio.create_task(self._deliver(row))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                if claimed:
                    await asyncio.sleep(0)
                elif not self._room():
                    # Claim again as soon as a send finishes (not when its record commits).
                    self._freed.clear()
                    try:
                        await asyncio.wait_for(self._freed.wait(),
                                               self.channel.pacing.poll_interval_s)
                    except TimeoutError:
                        pass
                else:
                    await asyncio.sleep(self.channel.pacing.poll_interval_s)
        finally:
            for task in self._tasks:
                task.cancel()
            await self.channel.close()

    async def run_once(self) -> int:
        """Claim one batch and wait for every send of it; returns how many were claimed."""
        rows = await self.claim()
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    def _room(self) -> bool:
        # Claim no more than can start soon: rows claimed and left waiting hold their lease.
        return self._unsent < 2 * self.channel.pacing.concurrency

    async def claim(self) -> list[dict]:
        per = self.channel.pacing.per_endpoint
        opened = set(self.breaker.open_endpoints())
        # A half-open endpoint gets one trial row; none more while the trial is out.
        trials = self.breaker.half_open()
        excluded = sorted({e for e, n in self._in_flight.items() if n >= per} | opened
                          | {e for e in trials if self._in_flight[e] > 0})
        OPEN_CIRCUITS.labels(self.channel.name).set(len(opened))
        # Rows an endpoint may still take; where its bound is the channel's own (one SMTP
        # relay), the claim's room bounds it already.
        bounded = per < self.channel.pacing.concurrency
        free = ({e: per - n for e, n in self._in_flight.items()
                 if 0 < n < per and e not in excluded}
                if bounded else {}) | {e: 1 for e in trials if self._in_flight[e] == 0}
        rows = await self.channel.claim(self.channel.pacing.batch_size, excluded, free)
        # A row whose lease ran out while it waited here is claimed again: this worker still
        # holds it and sends it once, under the task it already has.
        rows = [r for r in rows if self.channel.row_id(r) not in self._held]
        self._held.update(self.channel.row_id(r) for r in rows)
        for row in rows:
            self._in_flight[self.channel.endpoint(row)] += 1
        self._unsent += len(rows)
        return rows

    def backoff(self, attempts: int) -> float:
        p = self.channel.pacing
        delay = min(p.backoff_s * 2 ** (attempts - 1), p.backoff_max_s)
        return delay * random.uniform(0.5, 1.0)

    async def _deliver(self, row: dict) -> None:
        channel = self.channel
        endpoint = channel.endpoint(row)
        sent = False
        try:
            await self._window.acquire()
        except asyncio.CancelledError:
            self._release(endpoint)
            self._held.discard(channel.row_id(row))
            raise
        try:
            async with self._endpoint_slots[endpoint], self._slots, self.limiter:
                IN_FLIGHT.labels(channel.name).inc()
                try:
                    outcome = await channel.send(row)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a channel's bug must not stop the queue
                    outcome = Outcome(f"{type(exc).__name__} while sending")
                finally:
                    IN_FLIGHT.labels(channel.name).dec()
            # Sent: the endpoint's slot and the claim's room are free while the outcome is
            # recorded (the row's lease keeps it from being claimed again meanwhile), so the
            # next rows travel during the commit instead of after it.
            sent = True
            self._release(endpoint)
            await self._record(row, endpoint, outcome)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database failed: the lease makes the row due again
            log.warning("notify_outcome_not_recorded", channel=channel.name,
                        error=type(exc).__name__)
        finally:
            if not sent:
                self._release(endpoint)
            self._window.release()
            self._held.discard(channel.row_id(row))

    def _release(self, endpoint: str) -> None:
        self._in_flight[endpoint] -= 1
        self._unsent -= 1
        self._freed.set()

    async def _record(self, row: dict, endpoint: str, outcome: Outcome) -> None:
        channel = self.channel
        if outcome.error is None:
            self.breaker.succeeded(endpoint)
            self._outcomes.delivered.append(row)
        else:
            if not outcome.permanent and self.breaker.failed(endpoint):
                log.warning("notify_circuit_opened", channel=channel.name, endpoint=endpoint,
                            pause_s=channel.pacing.breaker_open_s)
            if outcome.permanent or row["attempts"] >= channel.pacing.max_attempts:
                self._outcomes.given_up.append((row, outcome.error))
            else:
                self._outcomes.retries.append(
                    (row, outcome.error, self.backoff(row["attempts"])))
        await self._commit()

    async def _commit(self) -> None:
        """Group commit: whoever takes the lock records every outcome that arrived meanwhile —
        delivered, due again, given up — in one transaction of one statement per kind, so a
        fan-out pays one commit per handful of messages, not one each. A row's send returns
        once a transaction holding it committed."""
        async with self._recording:
            outcomes, self._outcomes = self._outcomes, Outcomes()
            if outcomes:
                await self.channel.record(outcomes)
                for kind, rows in (("delivered", outcomes.delivered),
                                   ("retry", outcomes.retries),
                                   ("given_up", outcomes.given_up)):
                    if rows:
                        SENT.labels(self.channel.name, kind).inc(len(rows))

"""The queue worker's circuit breaker and backoff on a fake clock; its group commit on a channel
that keeps what each commit held."""

from __future__ import annotations

import asyncio

from services.notify.circuit_breaker import Breaker
from services.notify.queue import Pacing, QueueWorker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_failures_in_a_row_open_the_circuit_until_the_pause_ends():
    clock = Clock()
    breaker = Breaker(failures=3, open_s=30, clock=clock)
    assert not breaker.failed("wh-1") and not breaker.failed("wh-1")
    breaker.succeeded("wh-1")  # a success resets the streak
    assert not breaker.failed("wh-1") and not breaker.failed("wh-1")
    assert breaker.failed("wh-1")  # the third in a row opens it
    assert breaker.is_open("wh-1") and breaker.open_endpoints() == ["wh-1"]
    assert not breaker.is_open("wh-2")
    clock.now = 30
    assert not breaker.is_open("wh-1")  # a trial after the pause
    assert breaker.failed("wh-1")  # one more failure opens it again at once
    clock.now = 60
    assert not breaker.is_open("wh-1")
    breaker.succeeded("wh-1")
    assert not breaker.failed("wh-1")  # closed: a full streak is needed again


class _Channel:
    name = "test"
    pacing = Pacing(rate_per_s=10, concurrency=2, per_endpoint=1, batch_size=5,
                    poll_interval_s=1, max_attempts=5, backoff_s=10, backoff_max_s=60)

    def row_id(self, row: dict) -> str:
        return row["id"]


def test_backoff_doubles_capped_with_jitter_between_half_and_all():
    worker = QueueWorker(_Channel())
    for attempts, full in ((1, 10), (2, 20), (3, 40), (4, 60), (9, 60)):
        delays = [worker.backoff(attempts) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10  # spread, not one value


class _Recording(_Channel):
    """Sends succeed, fail or are refused by row; records what each commit held."""

    pacing = Pacing(rate_per_s=1000, concurrency=8, per_endpoint=8, batch_size=20,
                    poll_interval_s=1, max_attempts=3, backoff_s=10, backoff_max_s=60)

    def __init__(self) -> None:
        self.commits = []

    def endpoint(self, row: dict) -> str:
        return "relay"

    async def send(self, row: dict):
        from services.notify.queue import Outcome

        await asyncio.sleep(0)
        return {"ok": Outcome(), "flaky": Outcome("HTTP 503"),
                "refused": Outcome("SMTP 550 from the relay", permanent=True)}[row["kind"]]

    async def record(self, outcomes) -> None:
        await asyncio.sleep(0.01)  # a commit takes a while: outcomes gather behind it
        self.commits.append(outcomes)


async def test_outcomes_of_every_kind_are_recorded_together_by_group_commit():
    channel = _Recording()
    worker = QueueWorker(channel)
    rows = ([{"id": f"ok-{i}", "kind": "ok", "attempts": 1} for i in range(10)]
            + [{"id": "flaky-1", "kind": "flaky", "attempts": 1},
               {"id": "flaky-last", "kind": "flaky", "attempts": 3},
               {"id": "refused", "kind": "refused", "attempts": 1}])
    await asyncio.gather(*(worker._deliver(row) for row in rows))

    assert len(channel.commits) < len(rows)
    delivered = [r["id"] for c in channel.commits for r in c.delivered]
    retries = [(r["id"], e) for c in channel.commits for r, e, _ in c.retries]
    given_up = sorted(r["id"] for c in channel.commits for r, _ in c.given_up)
    assert sorted(delivered) == sorted(f"ok-{i}" for i in range(10))
    assert retries == [("flaky-1", "HTTP 503")]
    assert given_up == ["flaky-last", "refused"]
    assert next(d for c in channel.commits for _, _, d in c.retries) <= 10


class _SlowCommits(_Recording):
    """Sends return at once; each commit waits until the test lets it finish."""

    pacing = Pacing(rate_per_s=10_000, concurrency=4, per_endpoint=4, batch_size=50,
                    poll_interval_s=1, max_attempts=3, backoff_s=10, backoff_max_s=60)

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []
        self.commit_may_end = asyncio.Event()

    async def send(self, row: dict):
        from services.notify.queue import Outcome

        self.sent.append(row["id"])
        return Outcome()

    async def record(self, outcomes) -> None:
        await self.commit_may_end.wait()
        self.commits.append(outcomes)


async def test_sends_wait_once_twice_the_concurrency_are_sent_and_not_yet_recorded():
    channel = _SlowCommits()
    worker = QueueWorker(channel)
    rows = [{"id": f"r-{i}", "kind": "ok", "attempts": 1} for i in range(30)]
    sending = asyncio.gather(*(worker._deliver(row) for row in rows))
    for _ in range(50):
        await asyncio.sleep(0)
    # A crash now would leave at most these sent without a record.
    assert len(channel.sent) == 2 * channel.pacing.concurrency
    channel.commit_may_end.set()
    await sending
    assert sorted(channel.sent) == sorted(r["id"] for r in rows)
    assert sorted(r["id"] for c in channel.commits for r in c.delivered) == sorted(channel.sent)


class _Reclaims(_Recording):
    """Every claim hands out the same row, as when its lease ran out while it waited."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def claim(self, limit, excluded, free):
        return [{"id": "late", "kind": "ok", "attempts": 1}]

    async def send(self, row: dict):
        self.sent.append(row["id"])
        return await super().send(row)


async def test_a_row_claimed_again_while_its_worker_holds_it_is_sent_once():
    channel = _Reclaims()
    worker = QueueWorker(channel)
    first = await worker.claim()
    assert await worker.claim() == []  # held: the task it has sends it
    await asyncio.gather(*(worker._deliver(row) for row in first))
    assert channel.sent == ["late"]
    assert [r["id"] for r in await worker.claim()] == ["late"]  # no longer held


class _Claims(_Channel):
    """Two endpoints; keeps what each claim asked for and hands out rows by endpoint."""

    pacing = Pacing(rate_per_s=1000, concurrency=8, per_endpoint=4, batch_size=20,
                    poll_interval_s=1, max_attempts=3, backoff_s=10, backoff_max_s=60,
                    breaker_failures=2, breaker_open_s=30)

    def __init__(self) -> None:
        self.asked = []

    def endpoint(self, row: dict) -> str:
        return row["endpoint"]

    async def claim(self, limit, excluded, free):
        self.asked.append((sorted(excluded), dict(free)))
        return [{"id": f"{e}-{len(self.asked)}-{i}", "endpoint": e, "attempts": 1}
                for e, n in free.items() for i in range(n)]


async def test_after_the_pause_a_half_open_endpoint_is_claimed_one_trial_row_at_a_time():
    channel = _Claims()
    worker = QueueWorker(channel)
    clock = Clock()
    worker.breaker.clock = clock
    assert not worker.breaker.failed("wh-dead")
    assert worker.breaker.failed("wh-dead")  # two in a row: open

    await worker.claim()
    assert channel.asked[-1] == (["wh-dead"], {})  # open: left out of the claim

    clock.now = 30
    trial = await worker.claim()
    assert channel.asked[-1] == ([], {"wh-dead": 1})  # half-open: one row, no more
    assert [(r["endpoint"], r["attempts"]) for r in trial] == [("wh-dead", 1)]

    await worker.claim()
    assert channel.asked[-1] == (["wh-dead"], {})  # nothing more while the trial is out

    worker._release("wh-dead")
    worker.breaker.succeeded("wh-dead")  # the trial went through: closed
    await worker.claim()
    assert channel.asked[-1] == ([], {})


async def test_a_failed_trial_opens_the_circuit_again_at_once():
    channel = _Claims()
    worker = QueueWorker(channel)
    clock = Clock()
    worker.breaker.clock = clock
    worker.breaker.failed("wh-dead")
    worker.breaker.failed("wh-dead")
    clock.now = 30
    await worker.claim()
    worker._release("wh-dead")
    assert worker.breaker.failed("wh-dead")
    await worker.claim()
    assert channel.asked[-1] == (["wh-dead"], {})

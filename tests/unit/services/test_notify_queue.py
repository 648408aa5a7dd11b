"""The queue worker's circuit breaker and backoff, on a fake clock."""

from __future__ import annotations

from services.notify.queue import Breaker, Pacing, QueueWorker


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


def test_backoff_doubles_capped_with_jitter_between_half_and_all():
    worker = QueueWorker(_Channel())
    for attempts, full in ((1, 10), (2, 20), (3, 40), (4, 60), (9, 60)):
        delays = [worker.backoff(attempts) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10  # spread, not one value

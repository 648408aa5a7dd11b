"""Readiness of a consumer: a partition failing for longer than the threshold is stalled."""

from __future__ import annotations

from services.runtime.consumer_health import ConsumerHealth

SUBMISSIONS = ("thidua.initiatives.v1", 7)
SCORES = ("thidua.scores.v1", 2)


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def health_with_clock(stall_after_s: float = 30.0) -> tuple[ConsumerHealth, ManualClock]:
    clock = ManualClock()
    return ConsumerHealth(stall_after_s, clock), clock


def test_a_consumer_that_never_failed_is_ok():
    health, _ = health_with_clock()
    assert health.check() == "ok"


def test_a_partition_failing_for_less_than_the_threshold_is_still_ok():
    health, clock = health_with_clock(stall_after_s=30)
    health.failed([SUBMISSIONS])
    clock.advance(29)
    assert health.check() == "ok"


def test_a_partition_failing_for_longer_than_the_threshold_fails_the_check_naming_it():
    health, clock = health_with_clock(stall_after_s=30)
    health.failed([SUBMISSIONS])
    clock.advance(31)
    assert health.check() == "failing: partition not advancing: thidua.initiatives.v1[7] for 31 s"
    assert health.stalled() == {SUBMISSIONS: 31}


def test_repeated_failures_count_from_the_first_one():
    health, clock = health_with_clock(stall_after_s=30)
    health.failed([SUBMISSIONS])
    clock.advance(20)
    health.failed([SUBMISSIONS])
    clock.advance(15)
    assert health.stalled() == {SUBMISSIONS: 35}


def test_a_success_on_the_partition_clears_it():
    health, clock = health_with_clock(stall_after_s=30)
    health.failed([SUBMISSIONS])
    clock.advance(31)
    health.succeeded([SUBMISSIONS])
    assert health.check() == "ok"
    assert health.last_success == clock.now
    health.failed([SUBMISSIONS])  # failing again starts a new count
    clock.advance(10)
    assert health.check() == "ok"


def test_a_success_on_another_partition_does_not_clear_a_stalled_one():
    health, clock = health_with_clock(stall_after_s=30)
    health.failed([SUBMISSIONS, SCORES])
    clock.advance(40)
    health.succeeded([SCORES])
    assert health.check() == "failing: partition not advancing: thidua.initiatives.v1[7] for 40 s"


def test_the_longest_stalled_partitions_are_named_first():
    health, clock = health_with_clock(stall_after_s=30)
    health.failed([SCORES])
    clock.advance(10)
    health.failed([SUBMISSIONS])
    clock.advance(50)
    assert health.check() == (
        "failing: partition not advancing: "
        "thidua.scores.v1[2] for 60 s, thidua.initiatives.v1[7] for 50 s"
    )

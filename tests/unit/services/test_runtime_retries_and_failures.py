"""Retry delays and the line between a bad record and a broken infrastructure."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import ValidationError

from contracts.events.scores import ScoreChanged
from services.runtime.consumer import RetryPolicy
from services.runtime.failures import RetryableError, describe, is_infrastructure_failure


def test_the_default_policy_waits_three_times_doubling_from_200_ms():
    assert list(RetryPolicy().delays()) == [0.2, 0.4, 0.8]


def test_delays_double_up_to_the_cap_and_stay_there():
    assert list(RetryPolicy(max_attempts=7, backoff=1.0, backoff_max=5.0).delays()) == [
        1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_there_is_one_delay_fewer_than_attempts():
    for attempts in range(1, 10):
        assert len(list(RetryPolicy(max_attempts=attempts).delays())) == attempts - 1


def test_a_single_attempt_means_no_retry():
    assert list(RetryPolicy(max_attempts=1).delays()) == []


def test_the_total_wait_is_bounded_by_attempts_times_the_cap():
    policy = RetryPolicy(max_attempts=50, backoff=0.2, backoff_max=5.0)
    assert sum(policy.delays()) <= 49 * 5.0


@pytest.mark.parametrize("exc", [
    OSError("network unreachable"),
    ConnectionRefusedError(),
    TimeoutError(),
    asyncpg.PostgresConnectionError("gone"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.exceptions.TooManyConnectionsError("too many"),
    asyncpg.exceptions.CannotConnectNowError("starting up"),
    asyncpg.exceptions.AdminShutdownError("shutdown"),
])
def test_unavailable_infrastructure_is_an_infrastructure_failure(exc):
    assert is_infrastructure_failure(exc)


@pytest.mark.parametrize("exc", [
    ValueError("bad value"),
    KeyError("missing"),
    RetryableError("not there yet"),
    asyncpg.UniqueViolationError("duplicate"),
    asyncpg.CheckViolationError("negative"),
])
def test_a_failure_caused_by_the_record_is_not_an_infrastructure_failure(exc):
    assert not is_infrastructure_failure(exc)


def test_a_validation_error_is_blamed_on_the_record():
    with pytest.raises(ValidationError) as caught:
        ScoreChanged.model_validate({})
    assert not is_infrastructure_failure(caught.value)


def test_a_failure_is_described_by_its_type_and_message():
    assert describe(ValueError("points must be positive")) == "ValueError: points must be positive"

"""How the consumer tells failures apart: the infrastructure is down, or one record is bad."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg


class RetryableError(Exception):
    """A failure that may pass (a dependency not there yet): retried with backoff, then dead-lettered."""


class DependencyUnavailable(Exception):
    """A dependency other than the database is down, such as the token issuer's key set."""


# When the database or network is unavailable every record fails alike: dead-lettering them all
# would empty the topic into its DLQ. These stop the batch instead; it is redelivered later.
_INFRASTRUCTURE = (
    DependencyUnavailable,
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
)


def is_infrastructure_failure(exc: BaseException) -> bool:
    return isinstance(exc, _INFRASTRUCTURE)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff: float = 0.2
    backoff_max: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.backoff
        for _ in range(self.max_attempts - 1):
            yield delay
            delay = min(delay * 2, self.backoff_max)


DEFAULT_RETRY = RetryPolicy()

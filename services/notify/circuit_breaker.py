"""Per-endpoint circuit breaker for the queue worker (`queue.py`): an endpoint failing
`failures` times in a row is paused for `open_s`, then allowed one trial request."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable


class Breaker:
    """Per endpoint: consecutive failures, until when its circuit is open, and whether it is
    half-open (the pause is over: one trial request may go, and only one)."""

    def __init__(self, failures: int, open_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.open_s, self.clock = failures, open_s, clock
        self._streak: dict[str, int] = defaultdict(int)
        self._open_until: dict[str, float] = {}
        self._half_open: set[str] = set()

    def is_open(self, endpoint: str) -> bool:
        until = self._open_until.get(endpoint)
        if until is None:
            return False
        if self.clock() >= until:
            # Half-open: one trial; its outcome closes the circuit or reopens it at once.
            del self._open_until[endpoint]
            self._half_open.add(endpoint)
            self._streak[endpoint] = self.failures - 1
            return False
        return True

    def open_endpoints(self) -> list[str]:
        return [e for e in list(self._open_until) if self.is_open(e)]

    def half_open(self) -> set[str]:
        """Endpoints whose next claim must be a single trial request."""
        return set(self._half_open)

    def succeeded(self, endpoint: str) -> None:
        self._streak.pop(endpoint, None)
        self._half_open.discard(endpoint)

    def failed(self, endpoint: str) -> bool:
        """Count a failure; True when it opens the circuit."""
        self._half_open.discard(endpoint)
        self._streak[endpoint] += 1
        if self._streak[endpoint] >= self.failures and endpoint not in self._open_until:
            self._open_until[endpoint] = self.clock() + self.open_s
            return True
        return False

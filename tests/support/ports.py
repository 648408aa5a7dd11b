"""Ports for the servers tests start: `thidua up --base-port B` serves on B+1..B+4; a single
server (an SMTP relay, a webhook receiver, a broker of a test's own) on `free_port()`.

Both pick below Linux's ephemeral range (see `services.devstack.processes.free_port`)."""

from __future__ import annotations

import random

from services.devstack.processes import PICKED_PORTS, bindable, free_port

__all__ = ["free_base_port", "free_port"]


def free_base_port() -> int:
    """A base port whose four service ports can all be bound now, picked at random below the
    ephemeral range so two test sessions on one machine do not both take the first free block."""
    for _ in range(200):
        base = random.randrange(PICKED_PORTS.start, PICKED_PORTS.stop - 10, 10)
        if all(bindable(base + i) for i in range(1, 5)):
            return base
    raise RuntimeError(f"no free block of four ports in {PICKED_PORTS}")

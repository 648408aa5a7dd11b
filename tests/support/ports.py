"""Ports for the local stacks tests start: `thidua up --base-port B` serves on B+1..B+4."""

from __future__ import annotations

import random
import socket

# Below Linux's ephemeral range (32768-60999 by default): a port up there can be taken between
# the pick and the service's bind by any outgoing connection's local end (a Kafka client's, say).
_LOW, _HIGH = 20000, 32000


def free_base_port() -> int:
    """A base port whose four service ports can all be bound now, picked at random below the
    ephemeral range so two test sessions on one machine do not both take the first free block."""
    for _ in range(200):
        base = random.randrange(_LOW, _HIGH, 10)
        if all(_bindable(base + i) for i in range(1, 5)):
            return base
    raise RuntimeError(f"no free block of four ports between {_LOW} and {_HIGH}")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http servers bind
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True

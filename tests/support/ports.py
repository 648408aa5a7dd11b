"""Ports for the local stacks tests start: `thidua up --base-port B` serves on B+1..B+4."""

from __future__ import annotations

import random
import socket


def free_base_port() -> int:
    """A base port whose four service ports are all free, picked at random in 20000-59999 so
    two test sessions on one machine do not both take the first free block."""
    for _ in range(200):
        base = random.randrange(20000, 60000, 10)
        with socket.socket() as probe:
            if all(probe.connect_ex(("127.0.0.1", base + i)) != 0 for i in range(1, 5)):
                return base
    raise RuntimeError("no free block of four ports between 20000 and 60000")

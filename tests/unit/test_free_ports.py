"""Ports picked for local servers lie below the kernel's ephemeral range and are free now."""

from __future__ import annotations

import socket
from pathlib import Path

from services.devstack import processes
from services.devstack.processes import PICKED_PORTS, free_port
from tests.support.ports import free_base_port


def _ephemeral_range() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_a_picked_port_is_outside_the_ephemeral_range_and_can_be_bound():
    ephemeral = _ephemeral_range()
    for _ in range(20):
        port = free_port()
        assert port in PICKED_PORTS and port not in ephemeral
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_a_port_something_listens_on_is_not_picked(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        other = free_port()
        picks = iter([busy, busy, other])
        monkeypatch.setattr(processes.random, "choice", lambda ports: next(picks))
        assert free_port() == other


def test_a_base_port_leaves_its_four_service_ports_free_and_in_range():
    base = free_base_port()
    assert base + 1 in PICKED_PORTS and base + 4 in PICKED_PORTS
    for port in range(base + 1, base + 5):
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))

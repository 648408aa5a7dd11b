"""The embedded PostgreSQL's memory settings follow the machine's memory, within bounds."""

from __future__ import annotations

from services.devstack.embedded import server_settings

GIB = 2**30


def test_buffers_are_a_sixteenth_of_the_memory_within_128_mb_and_2_gb(monkeypatch):
    monkeypatch.delenv("THIDUA_PG_SHARED_BUFFERS_MB", raising=False)
    assert server_settings(24 * GIB)["shared_buffers"] == "1536MB"
    assert server_settings(1 * GIB)["shared_buffers"] == "128MB"
    assert server_settings(256 * GIB)["shared_buffers"] == "2048MB"
    assert server_settings(24 * GIB)["wal_buffers"] == "64MB"
    assert server_settings(4 * GIB)["wal_buffers"] == "16MB"


def test_the_environment_sets_the_buffers(monkeypatch):
    monkeypatch.setenv("THIDUA_PG_SHARED_BUFFERS_MB", "512")
    assert server_settings(24 * GIB)["shared_buffers"] == "512MB"

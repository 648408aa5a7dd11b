"""The walking skeleton's wait is read from the environment, for machines slower than usual."""

from __future__ import annotations

from services.devstack.demo import demo_timeout_s


def test_the_skeleton_waits_60_s_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("THIDUA_DEMO_TIMEOUT_S", raising=False)
    assert demo_timeout_s() == 60.0
    monkeypatch.setenv("THIDUA_DEMO_TIMEOUT_S", "")
    assert demo_timeout_s() == 60.0
    monkeypatch.setenv("THIDUA_DEMO_TIMEOUT_S", "240")
    assert demo_timeout_s() == 240.0

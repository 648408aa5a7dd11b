"""Prometheus series of registration's phases, for the ops watching a phase's last days: how
many commands its gate turned away and why, and how its closes went."""

from __future__ import annotations

from prometheus_client import Counter

PHASE_REFUSALS = Counter(
    "thidua_registration_phase_refusals_total",
    "Commands refused by their phase's gate, by code (phase_not_started, phase_ended, "
    "phase_closed): a rise of phase_closed after a close shows clients still sending.",
    ["code"],
)
PHASE_CLOSES = Counter(
    "thidua_registration_phase_closes_total",
    "Attempts to close a phase, by outcome: closed, or the refusal's code (reviews_pending, "
    "phase_closed).",
    ["outcome"],
)

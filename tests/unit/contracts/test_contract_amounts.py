"""Amounts of đồng are bounded, so every one fits the `bigint` columns that store them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts.events.common import VND_MAX
from contracts.events.initiatives import InitiativeSubmitted

BIGINT_MAX = 2**63 - 1


def submitted(amount: int) -> InitiativeSubmitted:
    return InitiativeSubmitted(
        initiative_id="ini-1", campaign_id="c", phase_id="p", unit_id="u", title="t",
        field="f", authors=[{"member_id": "m", "full_name": "n", "direct_worker": False}],
        claimed_benefit_vnd=amount, submitted_at=datetime(2025, 6, 1, tzinfo=UTC),
    )


def test_the_cap_leaves_room_to_sum_thousands_of_amounts_in_a_bigint():
    assert VND_MAX * 9_000 < BIGINT_MAX


def test_an_amount_at_the_cap_is_accepted_and_one_dong_more_is_refused():
    assert submitted(VND_MAX).claimed_benefit_vnd == VND_MAX
    with pytest.raises(ValidationError) as refused:
        submitted(VND_MAX + 1)
    assert refused.value.errors()[0]["loc"] == ("claimed_benefit_vnd",)

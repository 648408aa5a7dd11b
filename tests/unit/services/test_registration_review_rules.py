"""The order in which councils review an initiative, free of I/O."""

from __future__ import annotations

from typing import get_args

import pytest

from contracts.events.common import UnitKind
from services.registration import domain


def test_every_unit_kind_has_a_council_level():
    assert set(domain.COUNCIL_LEVEL) == set(get_args(UnitKind))
    assert domain.COUNCIL_LEVEL["grassroots_union"] == "grassroots"
    assert domain.COUNCIL_LEVEL["upper_level_union"] == "district"
    assert domain.COUNCIL_LEVEL["city_federation"] == "city"


def test_the_first_review_is_at_the_initiatives_own_level():
    domain.check_review_order("i", "grassroots", "grassroots", [])
    with pytest.raises(domain.ReviewOutOfOrder):
        domain.check_review_order("i", "grassroots", "city", [])


def test_each_later_review_is_higher_after_an_acceptance():
    accepted = [{"level": "grassroots", "outcome": "accepted"}]
    domain.check_review_order("i", "grassroots", "city", accepted)
    with pytest.raises(domain.AlreadyReviewed):
        domain.check_review_order("i", "grassroots", "grassroots", accepted)
    climbed = [*accepted, {"level": "city", "outcome": "accepted"}]
    with pytest.raises(domain.ReviewOutOfOrder):
        domain.check_review_order("i", "grassroots", "district", climbed)
    rejected = [{"level": "grassroots", "outcome": "rejected"}]
    with pytest.raises(domain.InitiativeRejected):
        domain.check_review_order("i", "grassroots", "district", rejected)

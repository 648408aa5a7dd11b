"""The demo's population is consistent with itself and with the demo directory."""

from __future__ import annotations

from collections import Counter

from contracts.events.org import UnitRegistered, UnitUpdated
from services.devstack.demo_directory import DISTRICTS_DISSOLVED, WARDS_FOUNDED, demo_directory
from services.devstack.demo_population import (
    GRASSROOTS,
    population_members,
    population_units,
)


def test_every_parent_exists_before_its_child_and_every_move_is_dated_2025():
    known = {e.unit_id for e in demo_directory() if isinstance(e, UnitRegistered)}
    for event in population_units():
        if event.parent_id is not None:
            assert event.parent_id in known, event
        if isinstance(event, UnitUpdated):
            assert event.effective_from in (DISTRICTS_DISSOLVED, WARDS_FOUNDED)
        known.add(event.unit_id)


def test_members_match_their_units_counts_and_ids_are_unique():
    rows = population_members()
    per_unit = Counter(row.unit_id for row in rows)
    for units in GRASSROOTS.values():
        for g in units:
            assert per_unit[g.unit_id] == g.members
    assert len({row.member_id for row in rows}) == len(rows)
    assert all(len(row.full_name.split()) == 3 for row in rows)


def test_the_same_seed_gives_the_same_people_and_a_realistic_mix():
    rows = population_members()
    assert rows == population_members()
    women = sum(row.gender == "female" for row in rows) / len(rows)
    direct = sum(row.direct_worker for row in rows) / len(rows)
    assert 0.5 < women < 0.75 and 0.3 < direct < 0.6
    assert 2_000 < len(rows) < 5_000

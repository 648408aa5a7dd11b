"""The demo scenario's data: it holds on any day of any year, and registration would accept it."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest

from contracts.events.campaigns import Phase
from contracts.events.org import UnitRegistered, UnitUpdated
from contracts.events.rules import AwardRules
from services.devstack.scenario_campaign import phase_holding, phases, scenario_campaign
from services.devstack.scenario_client import idempotency_key
from services.devstack.scenario_directory import members_csv, scenario_members, scenario_tree
from services.devstack.scenario_initiatives import INITIATIVES, WORKS, member_names
from services.devstack.scenario_participation import CLUSTERS, achieved, targets_met


@pytest.mark.parametrize("year", [2025, 2026, 2028, 2100])
def test_the_phases_tile_the_year_and_the_peak_is_the_90_days_before_28_7(year):
    found = [Phase.model_validate(p) for p in phases(year)]
    assert found[0].starts_on == date(year, 1, 1) and found[-1].ends_on == date(year, 12, 31)
    for before, after in pairwise(found):
        assert after.starts_on == before.ends_on + timedelta(days=1)
    peak = next(p for p in found if p.kind == "peak")
    assert (peak.ends_on - peak.starts_on).days + 1 == 90
    assert peak.ends_on + timedelta(days=1) == date(year, 7, 28)
    day = date(year, 1, 1)
    while day.year == year:  # every day of the year has exactly one phase to act in
        assert sum(p.starts_on <= day <= p.ends_on for p in found) == 1
        assert phase_holding(phases(year), day)["starts_on"] <= day.isoformat()
        day += timedelta(days=1)


def test_the_campaign_carries_a_valid_award_rule_set_with_a_binding_quota_and_no_wait():
    rules = AwardRules.model_validate(scenario_campaign(2026)["awards"])
    assert rules.disclosure_days == 0
    assert rules.title("good_worker").quotas == {"district": 1}
    assert rules.title("emulation_flag").per_cluster


def test_parents_come_before_children_and_moves_after_the_units_they_name():
    seen: set[str] = set()
    for event in scenario_tree():
        if isinstance(event, UnitUpdated):
            assert event.unit_id in seen and (event.parent_id is None or event.parent_id in seen)
        elif isinstance(event, UnitRegistered):
            assert event.parent_id is None or event.parent_id in seen, event.unit_id
            seen.add(event.unit_id)
    dissolved = [e for e in scenario_tree() if isinstance(e, UnitUpdated) and e.status == "dissolved"]
    assert {e.unit_id for e in dissolved} == {"u-dongda", "u-caugiay", "u-hadong", "u-myduc"}


def test_clusters_hold_5_to_11_units_each_unit_once_and_results_meet_some_targets():
    units = [u for _, us in CLUSTERS.values() for u in us]
    assert len(units) == len(set(units)) == 24
    assert all(5 <= len(us) <= 11 for _, us in CLUSTERS.values())
    met = {targets_met(u) for u in units}
    assert met == {0, 1, 2}
    assert all(set(achieved(u)) == {"sang-kien", "boi-duong"} for u in units)


def test_initiatives_name_members_of_their_units_and_one_is_a_near_copy():
    names = member_names()
    for initiative in INITIATIVES:
        assert all(a in names for a in initiative.author_ids), initiative.key
        levels = [r[0] for r in initiative.reviews]
        assert levels == ["grassroots", "district", "city"][:len(levels)], initiative.key
    titles = [i.title for i in INITIATIVES]
    assert sum(1 for t in titles if t.startswith("Ứng dụng phần mềm quản lý hồ sơ học sinh")) == 2
    assert len({w.unit_id for w in WORKS}) == len(WORKS)


def test_the_members_file_has_the_import_columns_and_every_member_once():
    lines = members_csv(scenario_members()).decode().splitlines()
    assert lines[0] == ("member_id,unit_id,full_name,gender,direct_worker,union_officer,"
                        "job_title,effective_from")
    assert len(lines) - 1 == len({line.split(",")[0] for line in lines[1:]}) == 2801


def test_idempotency_keys_keep_to_the_header_alphabet_and_length():
    assert idempotency_key("demo:org:/units/u-1/changes:2025-07-01") == (
        "demo:org:.units.u-1.changes:2025-07-01")
    long_a, long_b = "x" * 200 + "a", "x" * 200 + "b"
    assert len(idempotency_key(long_a)) == 128 and idempotency_key(long_a) != idempotency_key(long_b)

"""Registration's org rules without I/O: dated changes keep the rest of the state, say what
changed, and refuse what would change nothing; the demo's tree maps onto the commands."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from contracts.events.base import Actor
from services.devstack.demo_directory import demo_directory, directory_commands
from services.registration import org_domain as domain

ACTOR = Actor(subject="t", role="city_admin")
CURRENT = {"parent_id": "u-d", "district_id": "u-d", "name": "CĐ", "kind": "grassroots_union",
           "sector": "education", "member_count": 10, "direct_worker_count": 2,
           "status": "active"}


def test_a_move_keeps_the_other_fields_and_names_the_previous_parent():
    command = domain.ChangeUnit.model_validate({"effective_from": "2025-07-01",
                                                "parent_id": "u-city", "district_id": None})
    event = domain.unit_updated("u-s", CURRENT, command, ACTOR)
    assert (event.parent_id, event.district_id, event.member_count) == ("u-city", None, 10)
    assert event.changed == ["parent_id", "district_id"]
    assert event.previous_parent_id == "u-d"
    assert event.effective_from == date(2025, 7, 1)


def test_a_change_that_changes_nothing_or_touches_a_dissolved_unit_is_refused():
    same = domain.ChangeUnit.model_validate({"effective_from": "2025-07-01", "name": "CĐ"})
    with pytest.raises(domain.NothingChanged):
        domain.unit_updated("u-s", CURRENT, same, ACTOR)
    with pytest.raises(domain.AlreadyClosed):
        domain.unit_updated("u-s", CURRENT | {"status": "dissolved"}, same, ACTOR)


def test_a_change_on_or_before_the_latest_is_refused():
    with pytest.raises(domain.ChangeNotAfterLatest):
        domain.check_after_latest("unit u", date(2025, 7, 1), date(2025, 7, 1))
    domain.check_after_latest("unit u", date(2025, 7, 1), date(2025, 7, 2))


@pytest.mark.parametrize("value", ["2025-02-30", 20250101, "2025-7-1", "1800-01-01", None])
def test_dates_are_strict_calendar_strings(value):
    with pytest.raises(ValidationError) as refused:
        domain.ChangeUnit.model_validate({"effective_from": value})
    assert refused.value.errors()[0]["loc"] == ("effective_from",)


def test_the_demo_tree_maps_onto_registrations_commands():
    commands = directory_commands(demo_directory())
    paths = [path for path, _ in commands]
    assert paths[0] == "/units" and commands[0][1]["parent_id"] is None
    assert "/units/u-dongda/changes" in paths
    assert ("/units/u-dongda/changes", {"effective_from": "2025-07-01",
                                        "status": "dissolved"}) in commands
    for path, body in commands:
        model = {"/units": domain.RegisterUnit, "/members": domain.RegisterMember}.get(path)
        model = model or (domain.ChangeUnit if path.startswith("/units/") else domain.ChangeMember)
        model.model_validate(body)  # every body is one the API accepts

"""The contract stays backward compatible with its last release (the CI check), and the check
catches each kind of breaking change while letting compatible ones through."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from contracts.compatibility import breaking_changes, latest_release, topic_table

CONTRACTS = Path(__file__).parents[3] / "contracts"
SUBMITTED = "thidua.initiative.submitted.v1"


def test_the_contract_is_compatible_with_its_last_release():
    release = latest_release()
    assert release is not None, "contracts/released/ holds no release"
    assert breaking_changes(release) == []


@pytest.fixture
def changed(tmp_path):
    """Schemas to change, copied from the current ones; returns (dir, load, save)."""
    schemas = tmp_path / "schemas"
    shutil.copytree(CONTRACTS / "schemas", schemas)

    def edit(event_type: str, change) -> list[str]:
        path = schemas / f"{event_type}.json"
        document = json.loads(path.read_text())
        change(document)
        path.write_text(json.dumps(document))
        return breaking_changes(latest_release(), schemas=schemas)

    return edit


def data_of(document: dict) -> dict:
    return document["$defs"][document["properties"]["data"]["$ref"].split("/")[-1]]


def test_adding_an_optional_field_or_an_enum_value_is_compatible(changed):
    def add(document):
        data_of(document)["properties"]["nickname"] = {"type": "string", "default": ""}
        document["$defs"]["Actor"]["properties"]["role"]["enum"].append("observer")

    assert changed(SUBMITTED, add) == []


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: data_of(d)["properties"].pop("field"), ".field: field removed"),
    (lambda d: data_of(d)["properties"]["claimed_benefit_vnd"].update(type="string"),
     "claimed_benefit_vnd: retyped"),
    (lambda d: data_of(d)["required"].remove("campaign_id"), "campaign_id: no longer required"),
    (lambda d: data_of(d)["required"].append("actor"), "actor: newly required"),
    (lambda d: d["$defs"]["Actor"]["properties"]["role"]["enum"].remove("auditor"),
     "enum value 'auditor' removed"),
    (lambda d: data_of(d)["properties"]["field"].update(maxLength=3), "maxLength lowered to 3"),
    (lambda d: data_of(d)["properties"]["claimed_benefit_vnd"].update(minimum=1),
     "minimum raised to 1"),
    (lambda d: d["$defs"]["Actor"]["properties"]["member_id"].update(anyOf=[{"type": "string"}]),
     "member_id: retyped"),
    (lambda d: d["properties"]["type"].update(const="thidua.initiative.submitted.v2"),
     "const changed"),
])
def test_each_kind_of_breaking_change_is_caught(changed, change, says):
    found = changed(SUBMITTED, change)
    assert any(says in line for line in found), found


def test_a_removed_event_type_or_a_moved_key_is_caught(tmp_path):
    schemas = tmp_path / "schemas"
    shutil.copytree(CONTRACTS / "schemas", schemas)
    (schemas / f"{SUBMITTED}.json").unlink()
    topics = copy.deepcopy(topic_table())
    topics["thidua.initiatives.v1"]["key"] = "campaign id"
    topics["thidua.scores.v1"]["event_types"].remove("thidua.score.changed.v1")
    found = breaking_changes(latest_release(), schemas=schemas, topics=topics)
    assert f"{SUBMITTED}: event type removed" in found
    assert "thidua.initiatives.v1: key changed from 'unit id' to 'campaign id'" in found
    assert "thidua.scores.v1: no longer carries thidua.score.changed.v1" in found

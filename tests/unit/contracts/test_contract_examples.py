"""The frozen examples stay valid: against the published schemas and against the models."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from contracts import EVENT_TYPES, decode_event, encode_event
from contracts.generate import SCHEMAS_DIR, load_examples


@pytest.fixture(scope="module")
def examples() -> dict[str, dict]:
    return load_examples()


def _schema(event_type: str) -> dict:
    return json.loads((SCHEMAS_DIR / f"{event_type}.json").read_text(encoding="utf-8"))


def test_every_event_type_has_exactly_one_example(examples):
    assert set(examples) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_example_validates_against_its_json_schema(examples, event_type):
    schema = _schema(event_type)
    Draft202012Validator.check_schema(schema)
    errors = list(Draft202012Validator(schema).iter_errors(examples[event_type]))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_example_decodes_into_its_model(examples, event_type):
    event = decode_event(json.dumps(examples[event_type]).encode())
    assert type(event.data) is EVENT_TYPES[event_type]
    assert event.type == event_type


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_re_encoding_a_decoded_example_gives_back_the_same_json(examples, event_type):
    event = decode_event(json.dumps(examples[event_type]).encode())
    assert json.loads(encode_event(event)) == examples[event_type]


def test_a_schema_rejects_an_event_of_another_type(examples):
    schema = _schema("thidua.initiative.submitted.v1")
    assert not Draft202012Validator(schema).is_valid(examples["thidua.score.changed.v1"])


def test_a_schema_rejects_a_negative_benefit(examples):
    event = json.loads(json.dumps(examples["thidua.initiative.submitted.v1"]))
    event["data"]["claimed_benefit_vnd"] = -1
    assert not Draft202012Validator(_schema("thidua.initiative.submitted.v1")).is_valid(event)

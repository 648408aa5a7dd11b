"""Each event's Kafka key follows DESIGN's key column: unit, campaign or recipient id."""

from __future__ import annotations

import json

import pytest

from contracts import EVENT_TYPES, decode_event
from contracts.generate import load_examples

# Which payload field holds the design key for each type (the unit id of a cluster is its
# organizer's; finalized standings are keyed by the unit heading the ranked scope).
KEY_FIELDS = {
    "thidua.cluster.formed.v1": "organizer_unit_id",
    "thidua.campaign.launched.v1": "campaign_id",
    "thidua.phase.closed.v1": "campaign_id",
    "thidua.notification.delivered.v1": "recipient_id",
    "thidua.notification.failed.v1": "recipient_id",
}


@pytest.fixture(scope="module")
def examples() -> dict[str, dict]:
    return load_examples()


def _decode(body: dict):
    return decode_event(json.dumps(body).encode())


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_partition_key_is_the_design_key_of_the_topic(examples, event_type):
    raw = examples[event_type]
    event = _decode(raw)
    assert event.partition_key() == raw["data"][KEY_FIELDS.get(event_type, "unit_id")]
    assert event.partition_key() == event.data.partition_key()


def test_events_about_one_unit_share_a_key_across_types(examples):
    submitted = _decode(examples["thidua.initiative.submitted.v1"])
    reviewed = _decode(examples["thidua.initiative.reviewed.v1"])
    assert submitted.partition_key() == reviewed.partition_key() == "u-dongda-0001"

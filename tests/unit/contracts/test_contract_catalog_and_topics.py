"""The catalog matches DESIGN.md's event table: topics, keys, types."""

from __future__ import annotations

import pytest

from contracts import ALL_TOPICS, EVENT_TYPES, UnknownEventType, data_model_for, topic_named
from contracts.catalog import event_types_on

# DESIGN.md, "Events (v1)": topic -> (key, event types). Copied, not derived, on purpose.
DESIGN_TABLE = {
    "thidua.org.v1": ("unit id", [
        "thidua.unit.registered.v1", "thidua.unit.updated.v1", "thidua.member.registered.v1",
        "thidua.member.updated.v1", "thidua.cluster.formed.v1",
    ]),
    "thidua.campaigns.v1": ("campaign id", [
        "thidua.campaign.launched.v1", "thidua.phase.closed.v1",
    ]),
    "thidua.participation.v1": ("unit id", [
        "thidua.emulation.registered.v1", "thidua.pledge.signed.v1",
        "thidua.pledge.result_reported.v1",
    ]),
    "thidua.initiatives.v1": ("unit id", [
        "thidua.initiative.submitted.v1", "thidua.initiative.reviewed.v1",
        "thidua.work.registered.v1",
    ]),
    "thidua.scores.v1": ("unit id", [
        "thidua.score.changed.v1", "thidua.phase.standings_finalized.v1",
    ]),
    "thidua.awards.v1": ("unit id", [
        "thidua.award.eligibility_changed.v1", "thidua.award.proposed.v1",
        "thidua.award.granted.v1",
    ]),
    "thidua.notifications.v1": ("recipient id", [
        "thidua.notification.delivered.v1", "thidua.notification.failed.v1",
    ]),
}
DESIGN_TYPES = {t: topic for topic, (_, types) in DESIGN_TABLE.items() for t in types}


def test_the_registry_holds_exactly_the_design_topics_with_their_keys():
    assert {t.name: t.key for t in ALL_TOPICS} == {n: k for n, (k, _) in DESIGN_TABLE.items()}


def test_the_catalog_holds_exactly_the_design_event_types():
    assert set(EVENT_TYPES) == set(DESIGN_TYPES)


@pytest.mark.parametrize("event_type", sorted(DESIGN_TYPES))
def test_every_event_type_is_published_on_its_design_topic(event_type):
    model = data_model_for(event_type)
    assert model.event_type == event_type
    assert model.topic.name == DESIGN_TYPES[event_type]
    assert event_type in event_types_on(model.topic)


def test_every_topic_has_a_dead_letter_topic_named_after_it():
    assert [t.dlq for t in ALL_TOPICS] == [f"{name}.dlq" for name in DESIGN_TABLE]


def test_every_topic_has_at_least_one_partition_and_a_description():
    assert all(t.partitions >= 1 and t.description for t in ALL_TOPICS)


def test_a_topic_is_found_by_its_name():
    assert topic_named("thidua.initiatives.v1").key == "unit id"


def test_an_unknown_topic_name_raises_a_key_error_listing_the_known_ones():
    with pytest.raises(KeyError, match="unknown topic 'thidua.nope.v1'.*thidua.org.v1"):
        topic_named("thidua.nope.v1")


def test_an_unknown_event_type_raises_unknown_event_type():
    with pytest.raises(UnknownEventType, match="thidua.nope.v1"):
        data_model_for("thidua.nope.v1")


def test_every_payload_field_is_described_for_the_generated_docs():
    undocumented = [
        f"{model.__name__}.{name}"
        for model in EVENT_TYPES.values()
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert undocumented == []

"""asyncapi.json is a valid AsyncAPI 3.0 document (against the specification's own JSON Schema,
vendored from the @asyncapi/specs package) whose references all resolve."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT7

from contracts.catalog import EVENT_TYPES
from contracts.topics import ALL_TOPICS

CONTRACTS = Path(__file__).parents[3] / "contracts"
SPEC = Path(__file__).parent / "spec" / "asyncapi-3.0.0.json"


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads((CONTRACTS / "asyncapi.json").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    spec = json.loads(SPEC.read_text())
    registry = Registry().with_resources(
        (d["$id"], DRAFT7.create_resource(d)) for d in spec["definitions"].values() if "$id" in d)
    return jsonschema.Draft7Validator(spec, registry=registry)


def test_the_document_validates_against_the_asyncapi_3_schema(document, validator):
    assert document["asyncapi"] == "3.0.0"
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}"
              for e in validator.iter_errors(document)]
    assert errors == []


def test_the_validation_rejects_a_2_6_style_channel(document, validator):
    broken = json.loads(json.dumps(document))
    broken["channels"]["thidua.org.v1"]["subscribe"] = {"message": {}}
    assert list(validator.iter_errors(broken))


def test_every_topic_is_a_channel_with_a_receive_operation(document):
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == {t.name for t in ALL_TOPICS} | {t.dlq for t in ALL_TOPICS}
    received = {op["channel"]["$ref"] for op in document["operations"].values()}
    assert all(op["action"] == "receive" for op in document["operations"].values())
    assert received == {f"#/channels/{name}" for name in document["channels"]}


def test_every_message_has_its_id_payload_format_and_schema(document):
    messages = document["components"]["messages"]
    assert set(messages) == set(EVENT_TYPES) | {"DeadLetter"}
    for event_type in EVENT_TYPES:
        payload = messages[event_type]["payload"]
        assert payload["schemaFormat"] == "application/schema+json;version=draft-2020-12"
        assert (CONTRACTS / payload["schema"]["$ref"]).is_file()
        schema = json.loads((CONTRACTS / payload["schema"]["$ref"]).read_text())
        assert schema["$schema"].endswith("2020-12/schema")


def test_servers_name_the_local_stack_and_compose(document):
    servers = document["servers"]
    assert servers["compose"]["host"] == "localhost:9094"
    assert servers["local"]["host"] == "127.0.0.1:{port}"
    assert {s["protocol"] for s in servers.values()} == {"kafka"}


def test_every_local_reference_resolves(document):
    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(document):
        node = document
        for part in ref[2:].split("/"):
            node = node[part]

"""The committed schemas and AsyncAPI document are what the models generate today."""

from __future__ import annotations

import json
import subprocess
import sys

from contracts import ALL_TOPICS, EVENT_TYPES
from contracts.generate import ASYNCAPI_PATH, HERE, expected_files, stale_files


def test_the_generated_files_are_not_stale():
    assert stale_files(expected_files()) == [], "run `python -m contracts.generate`"


def test_generation_is_deterministic():
    assert expected_files() == expected_files()


def test_the_check_command_exits_zero_when_nothing_is_stale():
    result = subprocess.run(
        [sys.executable, "-m", "contracts.generate", "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_asyncapi_documents_every_topic_and_its_dead_letter_topic():
    document = json.loads(ASYNCAPI_PATH.read_text(encoding="utf-8"))
    for topic in ALL_TOPICS:
        channel = document["channels"][topic.name]
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
        assert topic.key in channel["description"]
        assert topic.dlq in document["channels"]


def test_asyncapi_messages_reference_existing_schemas_and_carry_the_content_type_header():
    messages = json.loads(ASYNCAPI_PATH.read_text(encoding="utf-8"))["components"]["messages"]
    for event_type in EVENT_TYPES:
        message = messages[event_type]
        assert (HERE / message["payload"]["schema"]["$ref"]).is_file()
        assert message["headers"]["properties"]["content-type"]["const"] == (
            "application/cloudevents+json"
        )


def test_the_readme_topic_table_matches_the_registry():
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    for topic in ALL_TOPICS:
        assert f"| `{topic.name}` | {topic.key} | {topic.partitions} | `{topic.dlq}` |" in readme

"""The AsyncAPI 3.0 document of every topic, its dead-letter topic and its messages.

Channels are the topics (`address`), each with a `receive` operation for consumers; messages are
keyed by their CloudEvents type (AsyncAPI 3 has no `messageId`: a message's id is its key), and
their payloads are the generated JSON Schemas (draft 2020-12, declared by `schemaFormat`).
"""

from __future__ import annotations

from typing import Any

from contracts.catalog import data_model_for, event_types_on
from contracts.envelope import CLOUDEVENTS_CONTENT_TYPE
from contracts.schemas_build import doc_summary
from contracts.topics import ALL_TOPICS, DLQ_HEADER_PREFIX, Topic

ASYNCAPI_VERSION = "3.0.0"
CONTRACT_VERSION = "1.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
PAYLOAD_SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"

# The headers the shared consumer runtime adds to a dead-lettered record.
DLQ_HEADERS = {
    "reason-code": "not_json, not_cloudevent, unknown_type, invalid_data or handler_failed.",
    "reason": "Human-readable reason, naming the offending field where possible.",
    "consumer-group": "Consumer group that rejected the record.",
    "service": "Service that rejected the record.",
    "original-topic": "Topic the record was read from.",
    "original-partition": "Partition it was read from.",
    "original-offset": "Offset it was read from.",
    "failed-at": "When it was rejected (RFC 3339).",
}

_INFO = {
    "title": "thidua events",
    "version": CONTRACT_VERSION,
    "description": (
        "Public events of thidua, the platform on which Vietnam's trade unions run emulation "
        "movements. Every record value is a CloudEvents 1.0 event in structured JSON mode with "
        "the header `content-type: application/cloudevents+json`; consumers dispatch on the "
        "CloudEvents `type` and deduplicate on its `id`. A breaking change ships as a `.v2` "
        "type on a new `.v2` topic while `.v1` keeps flowing for a deprecation period."
    ),
}


# Where the topics are served; `thidua up` picks the embedded broker's port and prints it.
SERVERS = {
    "local": {
        "host": "127.0.0.1:{port}",
        "protocol": "kafka",
        "description": "The local stack (`thidua up`): the embedded Kafka-protocol broker; its "
        "port is printed as KAFKA_BOOTSTRAP_SERVERS when the stack starts.",
        "variables": {"port": {"description": "The port `thidua up` printed."}},
    },
    "compose": {
        "host": "localhost:9094",
        "protocol": "kafka",
        "description": "deploy/compose.yaml: Apache Kafka's listener published on the host "
        "(containers of the stack use kafka:9092).",
    },
    "kubernetes": {
        "host": "thidua-kafka-bootstrap:9092",
        "protocol": "kafka",
        "description": "deploy/k8s: the Strimzi cluster's bootstrap service, inside the "
        "cluster; integrators authenticate as their KafkaUser (read-only).",
    },
}


def asyncapi_document(examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The whole document; `examples` maps event types to a frozen example event, if any."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        for name, channel in ((topic.name, _channel(topic)), (topic.dlq, _dlq_channel(topic))):
            channels[name] = channel
            operations["consume_" + name.replace(".", "_")] = _receive(name, channel)
    messages = {
        event_type: _message(event_type, examples.get(event_type))
        for topic in ALL_TOPICS
        for event_type in event_types_on(topic)
    }
    messages["DeadLetter"] = _dead_letter_message()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:thidua:events",
        "info": _INFO,
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "servers": SERVERS,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _receive(channel_name: str, channel: dict[str, Any]) -> dict[str, Any]:
    operation = {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{channel_name}"},
        "summary": channel.pop("x-summary"),
        "messages": [{"$ref": f"#/channels/{channel_name}/messages/{m}"}
                     for m in channel["messages"]],
    }
    return operation


def _bindings(topic_name: str, partitions: int) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": topic_name,
            "partitions": partitions,
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _channel(topic: Topic) -> dict[str, Any]:
    return {
        "address": topic.name,
        "description": f"{topic.description} Key: {topic.key}. Dead letters: `{topic.dlq}`.",
        "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in event_types_on(topic)},
        "bindings": _bindings(topic.name, topic.partitions),
        "x-summary": f"Events on {topic.name}, ordered per {topic.key}.",
    }


def _dlq_channel(topic: Topic) -> dict[str, Any]:
    return {
        "address": topic.dlq,
        "description": f"Records of `{topic.name}` a consumer rejected: original key, value and "
        f"headers byte for byte, plus `{DLQ_HEADER_PREFIX}*` headers saying who and why.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        "bindings": _bindings(topic.dlq, topic.partitions),
        "x-summary": f"Records of {topic.name} its consumers rejected.",
    }


def _content_type_header() -> dict[str, Any]:
    return {
        "content-type": {
            "const": CLOUDEVENTS_CONTENT_TYPE,
            "description": "CloudEvents structured mode.",
            "type": "string",
        }
    }


def _message(event_type: str, example: dict[str, Any] | None) -> dict[str, Any]:
    model = data_model_for(event_type)
    message: dict[str, Any] = {
        "name": event_type,
        "title": model.__name__,
        "summary": doc_summary(model.__doc__) or event_type,
        "contentType": CLOUDEVENTS_CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": _content_type_header(),
            "required": ["content-type"],
        },
        # The CloudEvent schema is draft 2020-12 with its own $defs: referenced, not inlined.
        "payload": {"schemaFormat": PAYLOAD_SCHEMA_FORMAT,
                    "schema": {"$ref": f"schemas/{event_type}.json"}},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"{model.topic.key}: the value of data.{model.key_field}",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "x-cloudevents-type": event_type,
    }
    if example is not None:
        message["examples"] = [{"name": "example", "payload": example}]
    return message


def _dead_letter_message() -> dict[str, Any]:
    headers = {
        DLQ_HEADER_PREFIX + name: {"type": "string", "description": text}
        for name, text in DLQ_HEADERS.items()
    }
    return {
        "name": "DeadLetter",
        "title": "Dead-lettered record",
        "summary": "The original record value, unchanged, with headers naming the rejection.",
        "headers": {"type": "object", "properties": headers},
        "payload": {
            "type": "string",
            "format": "binary",
            "description": "The original record value, byte for byte (may not even be JSON).",
        },
    }

"""The AsyncAPI 2.6 document of every topic, its dead-letter topic and its messages."""

from __future__ import annotations

from typing import Any

from contracts.catalog import data_model_for, event_types_on
from contracts.envelope import CLOUDEVENTS_CONTENT_TYPE
from contracts.schemas_build import doc_summary
from contracts.topics import ALL_TOPICS, DLQ_HEADER_PREFIX, Topic

ASYNCAPI_VERSION = "2.6.0"
CONTRACT_VERSION = "1.0.0"
KAFKA_BINDING_VERSION = "0.4.0"

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


def asyncapi_document(examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The whole document; `examples` maps event types to a frozen example event, if any."""
    channels: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        channels[topic.name] = _channel(topic)
        channels[topic.dlq] = _dlq_channel(topic)
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
        "channels": channels,
        "components": {"messages": messages},
    }


def _bindings(topic_name: str, partitions: int) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": topic_name,
            "partitions": partitions,
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _channel(topic: Topic) -> dict[str, Any]:
    refs = [{"$ref": f"#/components/messages/{t}"} for t in event_types_on(topic)]
    return {
        "description": f"{topic.description} Key: {topic.key}. Dead letters: `{topic.dlq}`.",
        "subscribe": {
            "operationId": "consume_" + topic.name.replace(".", "_"),
            "summary": f"Events on {topic.name}, ordered per {topic.key}.",
            "message": {"oneOf": refs},
        },
        "bindings": _bindings(topic.name, topic.partitions),
    }


def _dlq_channel(topic: Topic) -> dict[str, Any]:
    return {
        "description": f"Records of `{topic.name}` a consumer rejected: original key, value and "
        f"headers byte for byte, plus `{DLQ_HEADER_PREFIX}*` headers saying who and why.",
        "subscribe": {
            "operationId": "consume_" + topic.dlq.replace(".", "_"),
            "message": {"$ref": "#/components/messages/DeadLetter"},
        },
        "bindings": _bindings(topic.dlq, topic.partitions),
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
        "payload": {"$ref": f"schemas/{event_type}.json"},
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

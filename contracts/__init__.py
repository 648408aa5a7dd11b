"""thidua's public event contracts: topics, the CloudEvents envelope and every v1 event type.

Depends on pydantic only, so integrators can install it without the services.
"""

from contracts.catalog import EVENT_TYPES, UnknownEventType, data_model_for
from contracts.codec import EventDecodeError, decode_event, encode_event, new_event
from contracts.envelope import CLOUDEVENTS_CONTENT_TYPE, CloudEvent
from contracts.events.base import EventData
from contracts.topics import ALL_TOPICS, Topic, topic_named

__all__ = [
    "ALL_TOPICS",
    "CLOUDEVENTS_CONTENT_TYPE",
    "EVENT_TYPES",
    "CloudEvent",
    "EventData",
    "EventDecodeError",
    "Topic",
    "UnknownEventType",
    "data_model_for",
    "decode_event",
    "encode_event",
    "new_event",
    "topic_named",
]

"""JSON Schema (draft 2020-12) of the whole CloudEvent of each event type, from the models."""

from __future__ import annotations

from typing import Any

from contracts.catalog import data_model_for
from contracts.codec import envelope_model_for

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_id(event_type: str) -> str:
    return f"urn:thidua:contracts:schema:{event_type}"


def event_schema(event_type: str) -> dict[str, Any]:
    """The schema of what is on the wire for `event_type` (pydantic's serialization mode)."""
    model = data_model_for(event_type)
    schema = envelope_model_for(event_type).model_json_schema(mode="serialization")
    schema["properties"]["type"] = {
        "const": event_type,
        "description": "Event type; this schema covers this type only.",
        "title": "Type",
        "type": "string",
    }
    # Always written by producers though pydantic defaults them; CloudEvents requires specversion.
    schema["required"] = sorted({*schema["required"], "specversion", "datacontenttype"})
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(event_type),
        **schema,
        "title": event_type,
        "description": doc_summary(model.__doc__) or f"CloudEvent of type {event_type}.",
        "x-topic": model.topic.name,
        "x-partition-key": f"data.{model.key_field}",
    }


def doc_summary(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    if not doc:
        return ""
    return " ".join(doc.strip().split("\n\n")[0].split())

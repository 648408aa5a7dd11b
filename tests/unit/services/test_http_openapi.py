"""Each service's OpenAPI shows the bodies it really sends: typed models for answers, and
problem+json for errors (never FastAPI's default validation body, which we do not send)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from services.awards.app import definition as awards
from services.notify.app import definition as notify
from services.registration.app import definition as registration
from services.runtime.http import create_app
from services.scoring.app import definition as scoring
from tests.support.identity import auth_settings

DEFINITIONS = {"registration": registration, "scoring": scoring, "awards": awards,
               "notify": notify}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def openapi_of(name: str) -> dict:
    definition = DEFINITIONS[name]()
    settings = definition.settings.model_copy(update=auth_settings())
    return create_app(dataclasses.replace(definition, settings=settings)).openapi()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def is_typed(schema: dict) -> bool:
    """A named model, or a list of them; never an object of unknown shape."""
    if "$ref" in schema:
        return True
    return schema.get("type") == "array" and "$ref" in schema.get("items", {})


FILE_TYPES = {"text/csv",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@pytest.mark.parametrize("name", DEFINITIONS)
def test_every_successful_answer_is_a_named_model_or_a_file(name):
    for path, method, operation in operations(openapi_of(name)):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or path == "/metrics":
                continue
            media_types = {media.split(";")[0].strip() for media in response["content"]}
            if FILE_TYPES & media_types:  # a download: CSV or .xlsx
                assert media_types <= FILE_TYPES | {"application/json"}, path
                continue
            if "application/json" not in response["content"]:  # another file download
                assert all(media["schema"] == {"type": "string", "format": "binary"}
                           for media in response["content"].values()), (method, path)
                continue
            schema = response["content"]["application/json"]["schema"]
            assert is_typed(schema), f"{method.upper()} {path} answers {schema}"


@pytest.mark.parametrize("name", DEFINITIONS)
def test_every_error_answer_is_documented_as_a_problem(name):
    document = openapi_of(name)
    assert "HTTPValidationError" not in json.dumps(document)
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "45" and path != "/readyz":
                assert response["content"] == {"application/problem+json": {
                    "schema": PROBLEM_REF}}, f"{method.upper()} {path} {status}"


def test_the_problem_model_has_the_rfc_9457_members_and_the_field_errors():
    schema = openapi_of("registration")["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(schema["properties"])


def test_submitting_documents_conflict_validation_size_and_outage_problems():
    submit = openapi_of("registration")["paths"]["/initiatives"]["post"]
    assert {"409", "413", "422", "503"} <= set(submit["responses"])


def test_the_metrics_endpoint_is_documented_as_prometheus_text():
    metrics = openapi_of("scoring")["paths"]["/metrics"]["get"]
    assert any(t.startswith("text/plain") for t in metrics["responses"]["200"]["content"])

"""RFC 9457 problem details: the body of every HTTP error, and how the OpenAPI shows it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

PROBLEM_JSON = "application/problem+json"
# Problem types are URNs: stable names that no client should try to fetch (RFC 9457 §3.1.1);
# the runtime README lists them.
_TYPE_PREFIX = "urn:thidua:problem:"


class FieldError(BaseModel):
    code: str = Field(description="Machine-readable reason, e.g. `initiative_exists`, "
                                  "`string_too_short`, `extra_forbidden`.")
    message: str = Field(description="What is wrong, for people.")
    field: str | None = Field(description="The field at fault as a path, e.g. "
                                          "`authors[0].member_id`; fields outside the body are "
                                          "prefixed `path.`, `query.` or `header.`; `body` "
                                          "when the body as a whole cannot be read.")


class Problem(BaseModel):
    """An HTTP error (RFC 9457), with the field-level errors when the request is at fault."""

    type: str = Field(description="Kind of problem: `urn:thidua:problem:<kind>`, or "
                                  "`about:blank` when the status says it all.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request.")
    instance: str = Field(description="The request's path.")
    correlation_id: str | None = Field(None, description="The request's `X-Correlation-ID`, "
                                                         "to quote when asking for help.")
    errors: list[FieldError] = Field(default_factory=list)


def problem_type(kind: str) -> str:
    return _TYPE_PREFIX + kind


def problem_response(
    status: int,
    *,
    kind: str | None,
    title: str,
    detail: str,
    instance: str,
    correlation_id: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    problem = Problem(
        type=problem_type(kind) if kind else "about:blank", title=title, status=status,
        detail=detail, instance=instance, correlation_id=correlation_id, errors=list(errors),
    )
    return JSONResponse(problem.model_dump(mode="json"), status_code=status, headers=headers,
                        media_type=PROBLEM_JSON)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: these statuses answer a `Problem`."""
    return {status: {"model": Problem} for status in statuses}


def show_problems_as_problem_json(openapi: dict[str, Any]) -> dict[str, Any]:
    """FastAPI files every response model under `application/json`; problems are not."""
    for path in openapi.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                schema = content.get("application/json", {}).get("schema", {})
                if status[:1] in "45" and schema.get("$ref", "").endswith("/Problem"):
                    content[PROBLEM_JSON] = content.pop("application/json")
    return openapi

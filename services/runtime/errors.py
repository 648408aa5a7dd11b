"""Failures as HTTP answers: each is a problem (RFC 9457) with a status chosen here, at the edge.

Domain errors get their status from their kind; request validation answers 422 naming every
field; an unavailable database answers 503 with `Retry-After`; anything else is a 500 that
shows nothing of the exception (it is logged with the correlation id instead).
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .domain_errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthenticated
from .failures import is_infrastructure_failure
from .problems import FieldError, problem_response

# Kind of domain error -> (status, problem kind, title). The one place statuses are chosen.
_DOMAIN_STATUS: dict[type[DomainError], tuple[int, str, str]] = {
    NotFound: (404, "not-found", "Not found"),
    Conflict: (409, "conflict", "Conflicts with what is already stored"),
    Invalid: (422, "command-refused", "The command breaks a rule"),
    Unauthenticated: (401, "unauthenticated", "A valid bearer token is required"),
    Forbidden: (403, "forbidden", "Your role may not do this"),
}
# Long enough for a pool to reconnect after a failover or restart, short enough for a person.
RETRY_AFTER_SECONDS = 5


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_refused)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)


def correlation_id_of(scope: dict) -> str | None:
    return scope.get("state", {}).get("correlation_id")


def status_of(error: DomainError) -> tuple[int, str, str]:
    for kind in type(error).__mro__:
        if kind in _DOMAIN_STATUS:
            return _DOMAIN_STATUS[kind]
    return 422, "command-refused", "The command breaks a rule"


async def _domain_refused(request: Request, exc: DomainError) -> JSONResponse:
    status, kind, title = status_of(exc)
    return problem_response(
        status, kind=kind, title=title, detail=exc.message, instance=request.url.path,
        correlation_id=correlation_id_of(request.scope),
        errors=[FieldError(code=exc.code, message=exc.message, field=exc.field),
                # An error may name what it is about, one entry each (e.g. pending reviews).
                *(FieldError(code=code, message=message, field=field)
                  for code, message, field in getattr(exc, "items", ()))],
        headers=getattr(exc, "headers", None),
    )


async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [FieldError(code=e["type"], message=_message(e), field=_field_of(e))
              for e in exc.errors()]
    named = ", ".join(dict.fromkeys(e.field for e in errors if e.field))
    return problem_response(
        422, kind="validation-failed", title="The request is not valid",
        detail=f"invalid: {named}" if named else errors[0].message if errors else "invalid",
        instance=request.url.path, correlation_id=correlation_id_of(request.scope),
        errors=errors,
    )


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's answer to a body it could not decode at all (not UTF-8, for one): the
        # request's content is at fault, so name it like any other field.
        reason = f"the body cannot be read as JSON: {exc.__cause__}"
        return problem_response(
            400, kind="validation-failed", title="The request is not valid", detail=reason,
            instance=request.url.path, correlation_id=correlation_id_of(request.scope),
            errors=[FieldError(code="body_unreadable", message=reason, field="body")],
        )
    # Routing and protocol errors (unknown path, wrong method, body too large): the status
    # says it all, so the type is about:blank (RFC 9457 §4.2.1).
    return problem_response(
        exc.status_code, kind=None, title=HTTPStatus(exc.status_code).phrase,
        detail=str(exc.detail), instance=request.url.path,
        correlation_id=correlation_id_of(request.scope), headers=exc.headers,
    )


def unexpected_error_response(exc: Exception, scope: dict) -> JSONResponse:
    """The answer to an exception nothing else handled: 503 if a dependency is down, else 500."""
    path, correlation_id = scope.get("path", ""), correlation_id_of(scope)
    if is_infrastructure_failure(exc):
        return problem_response(
            503, kind="service-unavailable", title="A dependency is unavailable",
            detail="a dependency (the database or the token issuer) cannot be reached; retry "
                   "after the delay given",
            instance=path, correlation_id=correlation_id,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return problem_response(
        500, kind="internal-error", title="Internal error",
        detail="the request failed on our side; quote the correlation id when reporting it",
        instance=path, correlation_id=correlation_id,
    )


def _message(error: dict) -> str:
    if error["type"] == "json_invalid":
        return f"the body is not valid JSON: {error.get('ctx', {}).get('error', '')}".rstrip(": ")
    return error["msg"]


def _field_of(error: dict) -> str | None:
    loc = tuple(error["loc"])
    if error["type"] == "json_invalid":
        return "body"  # the body as a whole: its location is a character offset, not a field
    # ("body", "authors", 0, "member_id") -> "authors[0].member_id"; ("query", "limit") stays
    # "query.limit", so a reader can tell a body field from a parameter of the same name.
    if loc == ("body",):
        return "body"  # the body as a whole: not an object, or a rule across its fields
    return _field_path(loc[1:] if loc[:1] == ("body",) else loc) or None


def _field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path

"""What every request passes through first: a pure ASGI middleware.

Pure ASGI rather than Starlette's `BaseHTTPMiddleware`, which runs the app in a task group
and copies the response through a stream: that showed in a command's CPU profile. Here, per
request: the correlation id is chosen and bound to the logs; a body over the cap is refused
with 413 before it is read; an exception nothing else handled becomes a problem (503 when the
database is down, else 500); and the duration is observed by route template.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .correlation import CORRELATION_HEADER, correlation_id_from
from .errors import correlation_id_of, unexpected_error_response
from .failures import describe, is_infrastructure_failure
from .metrics import HTTP_REQUEST_DURATION
from .problems import problem_response

log = structlog.get_logger()
# The route label of requests no route matched: raw paths would give unbounded label values.
UNMATCHED_ROUTE = "<unmatched>"


class HttpEdge:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int,
                 body_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})

    def _limit(self, path: str) -> int:
        for prefix, limit in self.body_limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        correlation_id = correlation_id_from(headers.get(CORRELATION_HEADER))
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        status, started_response = 500, False

        async def send_correlated(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                MutableHeaders(scope=message).append(CORRELATION_HEADER, correlation_id)
            await send(message)

        with structlog.contextvars.bound_contextvars(correlationid=correlation_id):
            try:
                limit = self._limit(scope["path"])
                if _declared_length(headers) > limit:
                    await self._too_large(scope, limit)(scope, receive, send_correlated)
                else:
                    await self.app(scope, self._capped(receive, limit), send_correlated)
            except Exception as exc:
                if started_response:  # nothing else can be said
                    raise
                _log_failure(exc)
                await unexpected_error_response(exc, scope)(scope, receive, send_correlated)
            finally:
                _observe(scope, status, time.perf_counter() - started)

    def _capped(self, receive: Receive, limit: int) -> Receive:
        """`receive` that refuses a body growing past the cap (one sent without a length)."""
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, _too_large_detail(limit))  # the error handlers answer
            return message

        return capped

    def _too_large(self, scope: Scope, limit: int):
        return problem_response(
            413, kind=None, title="Content Too Large", detail=_too_large_detail(limit),
            instance=scope["path"], correlation_id=correlation_id_of(scope),
        )


def _too_large_detail(limit: int) -> str:
    return f"the body is over the limit of {limit} bytes"


def _observe(scope: Scope, status: int, seconds: float) -> None:
    route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)  # set by the router on a match
    HTTP_REQUEST_DURATION.labels(scope["method"], route, str(status)).observe(seconds)


def _declared_length(headers: Headers) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0


def _log_failure(exc: Exception) -> None:
    if is_infrastructure_failure(exc):
        log.warning("http_dependency_unavailable", error=describe(exc))
    else:
        log.error("http_request_failed", error=describe(exc), exc_info=exc)

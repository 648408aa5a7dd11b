"""Command errors as HTTP answers: a status, a machine-readable code, and the field at fault."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class CommandRejected(Exception):
    """A command that cannot be carried out; nothing it would have changed is stored."""

    status_code = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(CommandRejected):
    status_code = 404


class Conflict(CommandRejected):
    status_code = 409


class Invalid(CommandRejected):
    status_code = 422


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CommandRejected)
    async def rejected(request: Request, exc: CommandRejected) -> JSONResponse:
        error = {"code": exc.code, "message": exc.message, "field": exc.field}
        return JSONResponse({"errors": [error]}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "code": e["type"],
                "message": e["msg"],
                # ("body", "authors", 0, "member_id") -> "authors[0].member_id"
                "field": _field_path(e["loc"][1:] if e["loc"][:1] == ("body",) else e["loc"]),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"errors": errors}, status_code=422)


def _field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path

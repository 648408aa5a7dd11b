"""What a domain refuses, as exceptions that know nothing of HTTP.

A service's domain declares its own errors on these kinds (`InitiativeAlreadySubmitted` is a
`Conflict`); domain and repository code raise them, and the HTTP edge (`errors.py`) gives each
kind its status. A refused command has changed nothing.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command or query that cannot be carried out, with a machine-readable code."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(DomainError):
    """What the request names does not exist."""


class Conflict(DomainError):
    """The request contradicts what is already stored, such as a second submission."""


class Invalid(DomainError):
    """The request is well formed but breaks a rule, such as submitting to a closed phase."""


class Unauthenticated(DomainError):
    """The request carries no usable bearer token (missing, malformed, expired, forged...)."""

    def __init__(self, code: str, message: str, *, token_sent: bool) -> None:
        super().__init__(code, message)
        # RFC 6750 §3: no error code when no token was sent, `invalid_token` when one was.
        error = f', error="invalid_token", error_description="{_quoted(message)}"' if token_sent else ""
        self.headers = {"WWW-Authenticate": f'Bearer realm="thidua"{error}'}


class Forbidden(DomainError):
    """The caller's role may not call this route at all, whatever the object."""


def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")

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

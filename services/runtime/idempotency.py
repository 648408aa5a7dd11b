"""Safe retries of commands: the `Idempotency-Key` header and the answer kept under it.

A client that lost an answer (timeout, dropped connection) repeats the command with the same
key and gets the original status and body instead of a second submission. The key is stored
with the command's change, in the same transaction, so an answer is kept exactly when the
change committed; a refused command keeps no key and may be retried as is. Keys are kept for
`RETENTION`; the same key with another command is refused (draft-ietf-httpapi-idempotency-key).
`command_runs.run` runs a command this way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Header, Response
from pydantic import BaseModel

from .domain_errors import Invalid

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
RETENTION = timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN,
    description="Any unique value (a UUID is best), at most 128 of `A-Z a-z 0-9 . _ : -`. A "
                "repeat within 24 hours with the same body answers the original response; "
                "with another body, 422 `idempotency_key_reused`.")]


@dataclass(frozen=True)
class KeptAnswer:
    """What a command answered, to be kept under its key; stored bytes replay byte for byte."""

    key: str
    fingerprint: str
    status_code: int
    body: bytes


class IdempotencyKeyReused(Invalid):
    def __init__(self) -> None:
        super().__init__("idempotency_key_reused",
                         "this Idempotency-Key was used for another request; use a new key",
                         field="header.Idempotency-Key")


def fingerprint(method: str, route: str, command: BaseModel | None, caller: str = "") -> str:
    """The same validated command on the same route by the same caller: a difference in
    whitespace or key order of the JSON is the same request; another caller's key is not
    theirs to replay. A command without a body (`None`) counts as the empty object `{}`."""
    body = b"{}" if command is None else command.__pydantic_serializer__.to_json(command)
    canonical = f"{method} {route} {caller}\n".encode() + body
    return hashlib.sha256(canonical).hexdigest()


def replay(kept: KeptAnswer, request_fingerprint: str) -> Response:
    if kept.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused()
    return Response(kept.body, status_code=kept.status_code, media_type="application/json",
                    headers={REPLAYED_HEADER: "true"})

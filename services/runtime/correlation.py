"""The correlation id that ties a request to its logs and to every event it causes."""

from __future__ import annotations

import re
import uuid

CORRELATION_HEADER = "X-Correlation-ID"
# Bounded and plain: it is echoed, logged on every line and copied into public events, so a
# caller must not be able to inject log lines, markup or megabytes through it.
CORRELATION_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_ACCEPTED = re.compile(CORRELATION_ID_PATTERN)


def correlation_id_from(header: str | None) -> str:
    """The caller's id when it matches the pattern, else a fresh UUID (the odd value is dropped
    unseen: neither logged nor echoed)."""
    if header and _ACCEPTED.fullmatch(header):
        return header
    return str(uuid.uuid4())

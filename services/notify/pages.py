"""Keyset pages of notify's lists, newest first: the cursor is the last row's (`created_at`,
id), opaque to clients, handed over in a `Link: <…>; rel="next"` header (RFC 8288) so that the
body stays the list itself."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import Query, Request, Response

from services.runtime.domain_errors import Invalid

Cursor = Annotated[str | None, Query(
    max_length=400, pattern=r"^[A-Za-z0-9_-]+$",
    description="From the `Link: rel=\"next\"` header of the previous page.")]


class InvalidCursor(Invalid):
    def __init__(self) -> None:
        super().__init__("invalid_cursor", "not a cursor this list gave", field="cursor")


def after(cursor: str | None) -> tuple[datetime, str] | None:
    """The position a cursor stands for; 422 `invalid_cursor` for anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, row_id = raw.split("|", 1)
        return datetime.fromisoformat(moment), row_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor() from None


def page(rows: list[dict], limit: int, id_field: str, request: Request,
         response: Response) -> list[dict]:
    """The first `limit` of `rows` (fetched with one more), linking the next page if any."""
    if len(rows) <= limit:
        return rows
    rows = rows[:limit]
    last = rows[-1]
    raw = f"{last['created_at'].isoformat()}|{last[id_field]}"
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    following = request.url.include_query_params(cursor=cursor)
    response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return rows

"""NUL (U+0000) is refused at the edge: PostgreSQL text cannot hold it, so a NUL that reached
a repository answered 500. One app-wide dependency covers every route of every service.

In JSON a NUL can only be written as the escape `\\u0000`, so a body is parsed a second time
only when those six bytes occur in it, which almost no request does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

NUL = "\x00"
_ESCAPED_NUL = b"\\u0000"


async def refuse_nul_characters(request: Request) -> None:
    locations = [("path", name) for name, value in request.path_params.items()
                 if isinstance(value, str) and NUL in value]
    locations += [("query", name) for name, value in request.query_params.multi_items()
                  if NUL in name or NUL in value]
    body = await request.body()  # read once: FastAPI reuses it for the body parameter
    if _ESCAPED_NUL in body:
        try:
            locations += [("body", *path) for path in _nul_paths(json.loads(body))]
        except ValueError:
            pass  # not JSON: the body parameter's own validation says so
    if locations:
        raise RequestValidationError([
            {"type": "nul_character", "loc": tuple(_visible(part) for part in loc),
             "msg": "NUL characters (\\u0000) are not allowed", "input": None}
            for loc in locations
        ])


def _nul_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, str):
        if NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from [(*path, key)] if NUL in key else _nul_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, (*path, index))


def _visible(part: str | int) -> str | int:
    # A key holding a NUL is named with the escape, so the answer itself carries none.
    return part.replace(NUL, "\\u0000") if isinstance(part, str) else part

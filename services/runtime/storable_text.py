"""Text PostgreSQL cannot store is refused at the edge, naming the field, instead of a 500 from
the repository: NUL (U+0000), which `text` cannot hold, and lone UTF-16 surrogates (a JSON
`\\ud800` without its pair), which UTF-8 cannot encode. One app-wide dependency covers every
route of every service.

JSON can write either only as a `\\u` escape (a raw control character is invalid JSON, and a
raw surrogate invalid UTF-8), so a body is parsed a second time only when it holds `\\u0000`
or `\\ud`, which almost no request does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SUSPECT_BODY = re.compile(rb"\\u(0000|[dD])")
_REASONS = {
    "nul_character": "NUL characters (\\u0000) are not allowed",
    "lone_surrogate": "a lone surrogate (\\ud800-\\udfff without its pair) is not text",
}


async def refuse_unstorable_text(request: Request) -> None:
    found = [(("path", name), value) for name, value in request.path_params.items()
             if isinstance(value, str)]
    found += [(("query", name), name + value)
              for name, value in request.query_params.multi_items()]
    # Only a JSON body is parsed into fields; an upload (CSV, .xlsx) is streamed by its route,
    # which checks its cells itself, and must not be read into memory here.
    body = await request.body() if _json_body(request.headers.get("content-type")) else b""
    if _SUSPECT_BODY.search(body):
        try:
            found += [(("body", *path), text) for path, text in _strings(json.loads(body))]
        except ValueError:
            pass  # not JSON: the body parameter's own validation says so
    errors = [_error(loc, match.group()) for loc, text in found
              if (match := _UNSTORABLE.search(text))]
    if errors:
        raise RequestValidationError(errors)


def _json_body(content_type: str | None) -> bool:
    """Whether FastAPI would parse the body as JSON: no content type, or `application/json`
    or `application/*+json` (as `fastapi.routing` decides)."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _error(loc: tuple, char: str) -> dict:
    code = "nul_character" if char == "\x00" else "lone_surrogate"
    return {"type": code, "loc": tuple(_visible(part) for part in loc), "msg": _REASONS[code],
            "input": None}


def _strings(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Every string of a JSON document with its path; a key is reported at its own path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if _UNSTORABLE.search(key):
                yield (*path, key), key
            else:
                yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _visible(part: str | int) -> str | int:
    # A field named with an unstorable character is shown escaped: the answer must be storable
    # (and printable) itself.
    if isinstance(part, int):
        return part
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", part)

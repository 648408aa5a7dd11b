"""Text PostgreSQL cannot store (NUL, lone surrogates) is refused by every service at the edge
with 422 naming the field, wherever it hides (body, nested body, keys, path, query)."""

from __future__ import annotations

import json

from fastapi import APIRouter
from pydantic import BaseModel

from tests.support.edge_app import edge_app, edge_client

router = APIRouter()


class Note(BaseModel):
    text: str
    tags: list[str] = []
    extra: dict[str, str] = {}


class Stored(BaseModel):
    text: str


@router.post("/units/{unit_id}/notes")
async def add_note(unit_id: str, note: Note, q: str = "") -> Stored:
    return Stored(text=note.text)


def client():
    return edge_client(edge_app(router))


def fields(answer) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"] if e["code"] == "nul_character"]


async def test_a_nul_in_a_body_string_is_refused_naming_the_field():
    async with client() as http:
        answer = await http.post("/units/u-1/notes", json={"text": "a\u0000b"})
    assert fields(answer) == ["text"]


async def test_a_nul_deep_in_the_body_is_named_by_its_path():
    body = {"text": "ok", "tags": ["fine", "bad\u0000"], "extra": {"k": "\u0000"}}
    async with client() as http:
        answer = await http.post("/units/u-1/notes", json=body)
    assert fields(answer) == ["tags[1]", "extra.k"]


async def test_a_nul_in_a_body_key_is_refused_at_that_key():
    async with client() as http:
        answer = await http.post("/units/u-1/notes", json={"text": "ok", "extra": {"a\u0000": "v"}})
    assert fields(answer) == ["extra.a\\u0000"]


async def test_a_nul_in_a_path_parameter_is_refused_naming_it():
    async with client() as http:
        answer = await http.post("/units/u%001/notes", json={"text": "ok"})
    assert fields(answer) == ["path.unit_id"]


async def test_a_nul_in_a_query_parameter_is_refused_naming_it():
    async with client() as http:
        answer = await http.post("/units/u-1/notes", params={"q": "x\x00"}, json={"text": "ok"})
    assert fields(answer) == ["query.q"]


async def test_an_escaped_backslash_before_u0000_is_text_not_a_nul():
    raw = json.dumps({"text": "C:\\u0000"}).encode()  # the characters \ u 0 0 0 0
    assert b"\\\\u0000" in raw
    async with client() as http:
        answer = await http.post("/units/u-1/notes", content=raw,
                                 headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()) == (200, {"text": "C:\\u0000"})


async def test_health_routes_are_guarded_too():
    async with client() as http:
        answer = await http.get("/healthz", params={"probe": "\x00"})
    assert fields(answer) == ["query.probe"]


async def test_a_nul_at_the_bottom_of_deeply_nested_json_is_still_a_422():
    depth = 900  # within what json.loads accepts, deeper than a recursive walk can go here
    raw = b'{"text": "ok", "tags": ' + b"[" * depth + b'"\\u0000"' + b"]" * depth + b"}"
    async with client() as http:
        answer = await http.post("/units/u-1/notes", content=raw,
                                 headers={"content-type": "application/json"})
    assert fields(answer) == ["tags" + "[0]" * depth]


async def test_a_lone_surrogate_which_utf8_cannot_encode_is_refused_naming_the_field():
    raw = b'{"text": "ok", "tags": ["\\ud800x", "\\uDFFF"]}'
    async with client() as http:
        answer = await http.post("/units/u-1/notes", content=raw,
                                 headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert [(e["code"], e["field"]) for e in answer.json()["errors"]] == [
        ("lone_surrogate", "tags[0]"), ("lone_surrogate", "tags[1]")]


async def test_a_surrogate_pair_is_an_ordinary_character():
    raw = b'{"text": "\\ud83c\\udf89 \xe1\xbb\x87"}'  # an emoji written as a pair, and "ệ"
    async with client() as http:
        answer = await http.post("/units/u-1/notes", content=raw,
                                 headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()) == (200, {"text": "🎉 ệ"})


async def test_a_json_body_sent_as_another_json_type_is_still_checked():
    body = json.dumps({"text": "a\x00b"}).encode()
    async with client() as http:
        answer = await http.post("/units/u-1/notes", content=body,
                                 headers={"Content-Type": "application/merge-patch+json"})
    assert fields(answer) == ["text"]

"""Every HTTP error is an RFC 9457 problem: a type, a title, the status, a detail, the request
path, and the field-level errors, whatever raised it (domain, validation, routing, a bug)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.registration.domain import SubmitInitiative
from services.runtime.domain_errors import Conflict, Invalid, NotFound
from services.runtime.errors import _field_path
from tests.support.edge_app import edge_app, edge_client

PROBLEM = "application/problem+json"


class Ok(BaseModel):
    ok: bool


router = APIRouter()


@router.post("/initiatives")
async def submit(command: SubmitInitiative) -> Ok:
    raise Conflict("initiative_exists", "already submitted", field="initiative_id")


@router.get("/initiatives/{initiative_id}")
async def find(initiative_id: str) -> Ok:
    raise NotFound("initiative_not_found", f"no initiative {initiative_id}", "initiative_id")


@router.post("/phases/{phase_id}/close")
async def close(phase_id: str) -> Ok:
    raise Invalid("phase_closed", f"phase {phase_id} is already closed", "phase_id")


@router.get("/search")
async def search(limit: int = Query(10, le=50)) -> Ok:
    return Ok(ok=True)


@router.get("/bug")
async def bug() -> Ok:
    raise RuntimeError("a bug, not the caller's fault")


def client():
    return edge_client(edge_app(router))


def test_a_field_path_joins_names_with_dots_and_indexes_with_brackets():
    assert _field_path(("authors", 0, "member_id")) == "authors[0].member_id"


def test_a_top_level_field_path_is_the_field_name():
    assert _field_path(("title",)) == "title"


def test_a_path_may_start_with_an_index():
    assert _field_path((0, "member_id")) == "[0].member_id"


async def test_a_missing_resource_is_a_404_problem_naming_the_field():
    async with client() as http:
        answer = await http.get("/initiatives/ini-9")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["type"] == "urn:thidua:problem:not-found"
    assert (body["status"], body["detail"], body["instance"]) == (
        404, "no initiative ini-9", "/initiatives/ini-9")
    assert body["title"]
    assert body["errors"] == [{"code": "initiative_not_found", "message": "no initiative ini-9",
                               "field": "initiative_id"}]
    assert body["correlation_id"] == answer.headers["x-correlation-id"]


async def test_a_conflict_is_a_409_problem_and_a_broken_rule_a_422_problem():
    async with client() as http:
        conflict = await http.post("/initiatives", json=valid_submission())
        refused = await http.post("/phases/p1/close")
    assert (conflict.status_code, conflict.json()["type"]) == (409, "urn:thidua:problem:conflict")
    assert conflict.json()["errors"][0]["code"] == "initiative_exists"
    assert (refused.status_code, refused.json()["type"]) == (
        422, "urn:thidua:problem:command-refused")
    assert refused.headers["content-type"] == PROBLEM


async def test_an_invalid_body_is_a_422_problem_naming_each_nested_field():
    body = valid_submission(authors=[{"member_id": "", "full_name": "Lan"}], title="")
    async with client() as http:
        answer = await http.post("/initiatives", json=body)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"] == "urn:thidua:problem:validation-failed"
    assert {e["field"] for e in problem["errors"]} == {"authors[0].member_id", "title"}
    assert "authors[0].member_id" in problem["detail"]


async def test_a_query_parameter_out_of_range_is_named_with_its_location():
    async with client() as http:
        answer = await http.get("/search", params={"limit": 500})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["query.limit"]


async def test_a_body_that_is_not_json_is_a_422_problem():
    async with client() as http:
        answer = await http.post("/initiatives", content=b"{not json",
                                 headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert [(e["code"], e["field"]) for e in answer.json()["errors"]] == [("json_invalid", "body")]


async def test_a_body_that_is_not_utf8_is_a_400_problem_naming_the_body():
    async with client() as http:
        answer = await http.post("/initiatives", content=b'{"title": "\xff\xfe"}',
                                 headers={"content-type": "application/json"})
    assert (answer.status_code, answer.headers["content-type"]) == (400, PROBLEM)
    assert [(e["code"], e["field"]) for e in answer.json()["errors"]] == [
        ("body_unreadable", "body")]


async def test_an_unknown_path_and_a_wrong_method_are_problems_too():
    async with client() as http:
        unknown = await http.get("/nowhere")
        wrong_method = await http.delete("/initiatives/ini-1")
    assert (unknown.status_code, unknown.headers["content-type"]) == (404, PROBLEM)
    assert unknown.json()["instance"] == "/nowhere"
    assert (wrong_method.status_code, wrong_method.headers["content-type"]) == (405, PROBLEM)


async def test_a_bug_is_a_500_problem_that_does_not_leak_the_exception():
    async with client() as http:
        answer = await http.get("/bug")
    assert (answer.status_code, answer.headers["content-type"]) == (500, PROBLEM)
    assert "a bug" not in answer.text
    assert answer.json()["correlation_id"] == answer.headers["x-correlation-id"]


def valid_submission(**changes) -> dict:
    return {
        "campaign_id": "c", "phase_id": "p", "unit_id": "u", "district": "d",
        "title": "Cải tiến", "field": "kỹ thuật", "claimed_benefit_vnd": 0,
        "authors": [{"member_id": "m-1", "full_name": "Lan"}],
    } | changes


async def test_over_http_a_command_is_strict_and_names_an_unknown_field():
    body = valid_submission(claimed_benefit_vnd="100", is_admin=True)
    async with client() as http:
        answer = await http.post("/initiatives", json=body)
    assert answer.status_code == 422
    assert {(e["field"], e["code"]) for e in answer.json()["errors"]} == {
        ("claimed_benefit_vnd", "int_type"), ("is_admin", "extra_forbidden")}

"""Command errors as HTTP answers: a status, a code, and the field at fault named as a path."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.registration.domain import SubmitInitiative
from services.runtime.errors import Conflict, NotFound, _field_path, install_error_handlers


def test_a_field_path_joins_names_with_dots_and_indexes_with_brackets():
    assert _field_path(("authors", 0, "member_id")) == "authors[0].member_id"


def test_a_top_level_field_path_is_the_field_name():
    assert _field_path(("title",)) == "title"


def test_an_empty_location_is_an_empty_path():
    assert _field_path(()) == ""


def test_a_path_may_start_with_an_index():
    assert _field_path((0, "member_id")) == "[0].member_id"


def app_with_error_handlers() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/initiatives")
    async def submit(command: SubmitInitiative) -> dict:
        raise Conflict("initiative_exists", "already submitted", field="initiative_id")

    @app.get("/initiatives/{initiative_id}")
    async def find(initiative_id: str) -> dict:
        raise NotFound("initiative_not_found", f"no initiative {initiative_id}", "initiative_id")

    return app


def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app_with_error_handlers())
    return httpx.AsyncClient(transport=transport, base_url="http://registration")


async def test_an_invalid_body_answers_422_naming_the_nested_field():
    async with client() as http:
        answer = await http.post("/initiatives", json={
            "campaign_id": "c", "phase_id": "p", "unit_id": "u", "district": "d",
            "title": "Cải tiến", "field": "kỹ thuật", "claimed_benefit_vnd": 0,
            "authors": [{"member_id": "", "full_name": "Lan"}],
        })
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["authors[0].member_id"]


async def test_a_rejected_command_answers_its_status_code_and_field():
    async with client() as http:
        answer = await http.get("/initiatives/ini-9")
    assert answer.status_code == 404
    assert answer.json() == {"errors": [{"code": "initiative_not_found",
                                         "message": "no initiative ini-9",
                                         "field": "initiative_id"}]}

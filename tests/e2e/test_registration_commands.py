"""Registration's command edge on the real database: odd input is refused naming the field and
stores nothing; a retry with the same Idempotency-Key gets the original answer, once."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from services.devstack.demo import DEMO_INITIATIVE
from services.devstack.demo_directory import SCHOOL
from tests.support.identity import bearer

pytestmark = pytest.mark.integration


def submission(**overrides) -> dict:
    """The demo's initiative by an author of its own: events of these tests reach the shared
    broker, and must not change what the demo member (`thidua up --demo`) is told."""
    author = DEMO_INITIATIVE["authors"][0] | {"member_id": f"m-{uuid.uuid4().hex[:10]}"}
    return DEMO_INITIATIVE | {"initiative_id": f"ini-{uuid.uuid4().hex[:12]}",
                              "authors": [author]} | overrides


def fresh_key() -> str:
    return f"key-{uuid.uuid4()}"


async def stored(clients, initiative_id: str) -> int:
    return (await clients["registration"].get(f"/initiatives/{initiative_id}")).status_code


async def test_a_nul_character_in_the_title_is_refused_naming_it_and_nothing_is_stored(clients):
    body = submission(title="Cải tiến\u0000máy dệt")
    answer = await clients["registration"].post("/initiatives", json=body)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["title"]
    assert await stored(clients, body["initiative_id"]) == 404


async def test_a_lone_surrogate_in_the_title_is_refused_naming_it_and_nothing_is_stored(clients):
    body = submission(title="Cải tiến PLACEHOLDER")
    raw = json.dumps(body).replace("PLACEHOLDER", "\\ud800").encode()
    answer = await clients["registration"].post(
        "/initiatives", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert [(e["code"], e["field"]) for e in answer.json()["errors"]] == [
        ("lone_surrogate", "title")]
    assert await stored(clients, body["initiative_id"]) == 404


async def test_a_nul_character_in_an_authors_name_is_named_with_its_index(clients):
    author = submission()["authors"][0] | {"full_name": "Lan\u0000"}
    answer = await clients["registration"].post("/initiatives", json=submission(authors=[author]))
    assert [e["field"] for e in answer.json()["errors"]] == ["authors[0].full_name"]


@pytest.mark.parametrize("service", ["registration", "scoring", "awards", "notify"])
async def test_every_service_refuses_a_nul_in_a_path_with_422_not_500(clients, service):
    path = {"registration": "/initiatives/ini%00x", "scoring": "/units/u%00x/scores",
            "awards": "/eligibility/unit/u%00x", "notify": "/members/m%00x/notifications"}
    answer = await clients[service].get(path[service])
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["code"] == "nul_character"


async def test_an_initiative_id_with_a_slash_is_refused_so_every_stored_id_can_be_fetched(clients):
    answer = await clients["registration"].post("/initiatives",
                                                json=submission(initiative_id="ini/2025/1"))
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["initiative_id"]


async def test_an_unknown_field_and_a_number_in_a_string_are_refused_by_name(clients):
    body = submission(is_admin=True, claimed_benefit_vnd="120000000")
    answer = await clients["registration"].post("/initiatives", json=body)
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"is_admin", "claimed_benefit_vnd"}
    assert await stored(clients, body["initiative_id"]) == 404


async def test_a_claimed_benefit_beyond_bigint_is_refused_not_a_500(clients):
    answer = await clients["registration"].post("/initiatives",
                                                json=submission(claimed_benefit_vnd=2**63))
    assert [e["field"] for e in answer.json()["errors"]] == ["claimed_benefit_vnd"]


async def test_a_retry_with_the_same_key_and_body_gets_the_original_answer_once(clients):
    body = submission()
    del body["initiative_id"]  # the server picks it: only the key stops a second submission
    key = fresh_key()
    first = await clients["registration"].post("/initiatives", json=body,
                                               headers={"Idempotency-Key": key})
    again = await clients["registration"].post("/initiatives", json=body,
                                               headers={"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await stored(clients, first.json()["initiative_id"]) == 200


async def test_concurrent_requests_with_one_key_submit_once_and_answer_alike(clients):
    body = submission()
    del body["initiative_id"]
    key = fresh_key()
    answers = await asyncio.gather(*(
        clients["registration"].post("/initiatives", json=body, headers={"Idempotency-Key": key})
        for _ in range(5)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["initiative_id"] for a in answers}) == 1


async def test_another_caller_cannot_replay_a_key(clients):
    """Keys belong to their caller: the same key and body from someone else is not theirs to
    replay (it would show them another caller's answer)."""
    body = submission()
    del body["initiative_id"]
    key = fresh_key()
    first = await clients["registration"].post("/initiatives", json=body,
                                               headers={"Idempotency-Key": key})
    other = await clients["registration"].post(
        "/initiatives", json=body,
        headers={"Idempotency-Key": key} | bearer("grassroots_official", unit=SCHOOL))
    assert first.status_code == 202
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"


async def test_the_same_key_with_another_body_is_refused_naming_the_key(clients):
    key = fresh_key()
    first = await clients["registration"].post("/initiatives", json=submission(),
                                               headers={"Idempotency-Key": key})
    other = submission()
    reused = await clients["registration"].post("/initiatives", json=other,
                                                headers={"Idempotency-Key": key})
    assert first.status_code == 202
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert [(e["code"], e["field"]) for e in reused.json()["errors"]] == [
        ("idempotency_key_reused", "header.Idempotency-Key")]
    assert await stored(clients, other["initiative_id"]) == 404


async def test_a_refused_command_does_not_use_up_its_key(clients):
    body = submission()
    await clients["registration"].post("/initiatives", json=body)
    key = fresh_key()
    conflict = await clients["registration"].post("/initiatives", json=body,
                                                  headers={"Idempotency-Key": key})
    retry = await clients["registration"].post("/initiatives", json=body | {"title": "Khác"},
                                               headers={"Idempotency-Key": key})
    assert (conflict.status_code, retry.status_code) == (409, 409)  # not 422: the key is free


@pytest.mark.parametrize("key", ["k" * 129, "two words", "ü-key", ""])
async def test_an_odd_idempotency_key_is_refused_naming_the_header(clients, key):
    answer = await clients["registration"].post(
        "/initiatives", json=submission(), headers={"Idempotency-Key": key.encode("latin-1")})
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["header.Idempotency-Key"]


async def expire(system, key: str) -> None:
    """Move a kept answer past its 24 hours."""
    await system["registration"].state.runtime.pool.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' "
        "WHERE idempotency_key = $1", key)


async def test_a_key_past_its_retention_is_free_for_a_new_command(clients, system):
    key = fresh_key()
    headers = {"Idempotency-Key": key}
    first = await clients["registration"].post("/initiatives", json=submission(), headers=headers)
    await expire(system, key)
    other = submission()
    reused = await clients["registration"].post("/initiatives", json=other, headers=headers)
    assert (first.status_code, reused.status_code) == (202, 202)
    assert reused.json()["initiative_id"] == other["initiative_id"]
    assert "idempotent-replayed" not in reused.headers


async def test_expired_keys_are_removed_by_later_commands(clients, system):
    keys = [fresh_key() for _ in range(2)]
    for key in keys:
        await clients["registration"].post("/initiatives", json=submission(),
                                           headers={"Idempotency-Key": key})
        await expire(system, key)
    pool = system["registration"].state.runtime.pool
    for _ in range(50):  # each command removes two expired keys, oldest first
        await clients["registration"].post("/initiatives", json=submission())
        left = await pool.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE idempotency_key = ANY($1)", keys)
        if left == 0:
            break
    assert left == 0

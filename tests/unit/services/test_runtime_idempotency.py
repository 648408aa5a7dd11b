"""What makes two requests the same command, and how a kept answer is replayed."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import BaseModel

from services.registration.domain import SubmitInitiative
from services.runtime.idempotency import (
    IdempotencyKeyReused,
    KeptAnswer,
    fingerprint,
    replay,
)


def command(**changes) -> SubmitInitiative:
    body = {"campaign_id": "c", "phase_id": "p", "unit_id": "u", "district": "d",
            "title": "Cải tiến", "field": "kỹ thuật", "claimed_benefit_vnd": 5,
            "authors": [{"member_id": "m-1", "full_name": "Lan"}]}
    return SubmitInitiative(**(body | changes))


def test_the_same_command_has_the_same_fingerprint_whatever_the_json_spacing():
    assert fingerprint("POST", "/initiatives", command(title="  Cải tiến ")) == fingerprint(
        "POST", "/initiatives", command())


def test_another_value_or_another_route_is_another_fingerprint():
    same = fingerprint("POST", "/initiatives", command())
    assert fingerprint("POST", "/initiatives", command(claimed_benefit_vnd=6)) != same
    assert fingerprint("POST", "/works", command()) != same


def test_a_command_without_a_body_is_fingerprinted_as_the_empty_object():
    class Empty(BaseModel):
        pass

    route = "/campaigns/c/phases/p/close"
    assert fingerprint("POST", route, None, caller="u-1") == fingerprint(
        "POST", route, Empty(), caller="u-1")
    assert fingerprint("POST", route, None, caller="u-1") == hashlib.sha256(
        f"POST {route} u-1\n{{}}".encode()).hexdigest()


def test_a_kept_answer_replays_its_status_and_exact_bytes_marked_as_a_replay():
    kept = KeptAnswer("k-1", "f", 202, b'{"initiative_id":"ini-1"}')
    answer = replay(kept, "f")
    assert (answer.status_code, answer.body) == (202, b'{"initiative_id":"ini-1"}')
    assert answer.headers["idempotent-replayed"] == "true"


def test_a_kept_answer_is_not_replayed_for_another_command():
    with pytest.raises(IdempotencyKeyReused) as refused:
        replay(KeptAnswer("k-1", "f", 202, b"{}"), "other")
    assert refused.value.field == "header.Idempotency-Key"

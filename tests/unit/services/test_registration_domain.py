"""Registration's command rules: what `POST /initiatives` accepts and the event it becomes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts.events.initiatives import InitiativeSubmitted
from services.registration.domain import SubmitInitiative, initiative_submitted

NOW = datetime(2025, 6, 20, 9, 30, tzinfo=UTC)


def command(**changes) -> dict:
    body = {
        "campaign_id": "cmp-2025-hn",
        "phase_id": "cmp-2025-hn-p1",
        "unit_id": "u-dongda-thcs-langthuong",
        "district": "d-dongda",
        "title": "Ứng dụng phần mềm quản lý hồ sơ học sinh",
        "field": "quản lý",
        "authors": [
            {"member_id": "m-lan", "full_name": "Nguyễn Thị Lan", "direct_worker": False},
            {"member_id": "m-hung", "full_name": "Trần Văn Hùng", "direct_worker": True},
        ],
        "claimed_benefit_vnd": 120_000_000,
    }
    return body | changes


def fields_at_fault(exc: pytest.ExceptionInfo[ValidationError]) -> set[tuple]:
    return {error["loc"] for error in exc.value.errors()}


def test_a_well_formed_submission_is_accepted():
    submitted = SubmitInitiative(**command())
    assert [a.member_id for a in submitted.authors] == ["m-lan", "m-hung"]
    assert submitted.initiative_id is None


def test_the_same_author_twice_is_refused_on_the_authors_field():
    lan = {"member_id": "m-lan", "full_name": "Nguyễn Thị Lan"}
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(authors=[lan, lan]))
    assert fields_at_fault(refused) == {("authors",)}
    assert "each author may appear once" in str(refused.value)


def test_a_negative_claimed_benefit_is_refused():
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(claimed_benefit_vnd=-1))
    assert fields_at_fault(refused) == {("claimed_benefit_vnd",)}


def test_a_submission_without_authors_is_refused():
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(authors=[]))
    assert fields_at_fault(refused) == {("authors",)}


def test_an_author_without_a_member_id_is_refused_at_that_author():
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(authors=[{"member_id": "", "full_name": "Lan"}]))
    assert fields_at_fault(refused) == {("authors", 0, "member_id")}


def test_the_event_trims_whitespace_around_title_and_field():
    raw = SubmitInitiative(**command(title="  Cải tiến máy dệt \n", field=" kỹ thuật "))
    event = initiative_submitted(raw, NOW)
    assert event.title == "Cải tiến máy dệt"
    assert event.field == "kỹ thuật"


def test_an_initiative_id_is_generated_when_the_command_has_none():
    first = initiative_submitted(SubmitInitiative(**command()), NOW)
    second = initiative_submitted(SubmitInitiative(**command()), NOW)
    assert first.initiative_id.startswith("ini-")
    assert first.initiative_id != second.initiative_id


def test_a_given_initiative_id_is_kept():
    event = initiative_submitted(SubmitInitiative(**command(initiative_id="ini-42")), NOW)
    assert event.initiative_id == "ini-42"


def test_the_submitted_event_carries_the_command_and_the_submission_time():
    event = initiative_submitted(SubmitInitiative(**command()), NOW)
    assert isinstance(event, InitiativeSubmitted)
    assert (event.campaign_id, event.phase_id, event.unit_id) == (
        "cmp-2025-hn", "cmp-2025-hn-p1", "u-dongda-thcs-langthuong")
    assert event.claimed_benefit_vnd == 120_000_000
    assert event.submitted_at == NOW
    assert [(a.member_id, a.direct_worker) for a in event.authors] == [
        ("m-lan", False), ("m-hung", True)]
    assert event.partition_key() == "u-dongda-thcs-langthuong"


def test_an_author_is_not_a_direct_worker_unless_the_command_says_so():
    authors = [{"member_id": "m-lan", "full_name": "Nguyễn Thị Lan"}]
    event = initiative_submitted(SubmitInitiative(**command(authors=authors)), NOW)
    assert event.authors[0].direct_worker is False


def test_a_title_of_only_spaces_is_refused_by_the_command():
    with pytest.raises(ValidationError):
        SubmitInitiative(**command(title="     "))

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


@pytest.mark.parametrize("amount", ["100", True, 100.0, 10**15 + 1, 2**63])
def test_a_claimed_benefit_must_be_a_whole_number_of_dong_within_the_cap(amount):
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(claimed_benefit_vnd=amount))
    assert fields_at_fault(refused) == {("claimed_benefit_vnd",)}


def test_the_largest_claimed_benefit_accepted_is_a_thousand_trillion_dong():
    assert SubmitInitiative(**command(claimed_benefit_vnd=10**15)).claimed_benefit_vnd == 10**15


@pytest.mark.parametrize("flag", ["yes", 1, "true"])
def test_direct_worker_is_a_json_boolean_only(flag):
    author = {"member_id": "m-lan", "full_name": "Nguyễn Thị Lan", "direct_worker": flag}
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(authors=[author]))
    assert fields_at_fault(refused) == {("authors", 0, "direct_worker")}


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(is_admin=True))
    assert fields_at_fault(refused) == {("is_admin",)}
    assert refused.value.errors()[0]["type"] == "extra_forbidden"


def test_an_unknown_field_of_an_author_is_refused_at_that_author():
    author = {"member_id": "m-lan", "full_name": "Nguyễn Thị Lan", "role": "chair"}
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(authors=[author]))
    assert fields_at_fault(refused) == {("authors", 0, "role")}


@pytest.mark.parametrize("bad_id", ["ini/1", "ini 1", "-ini", "", "i" * 65, "ini\tx", "ini\u0000"])
def test_an_initiative_id_outside_the_id_pattern_is_refused(bad_id):
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(initiative_id=bad_id))
    assert fields_at_fault(refused) == {("initiative_id",)}


@pytest.mark.parametrize("field", ["campaign_id", "phase_id", "unit_id", "district"])
def test_every_id_of_the_command_follows_the_id_pattern(field):
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(**{field: "a/b"}))
    assert fields_at_fault(refused) == {(field,)}


def test_an_author_member_id_follows_the_id_pattern():
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(authors=[{"member_id": "m lan", "full_name": "Lan"}]))
    assert fields_at_fault(refused) == {("authors", 0, "member_id")}


def test_ids_with_dots_colons_and_underscores_are_accepted():
    accepted = SubmitInitiative(**command(initiative_id="hn.2025:ini_0001-a"))
    assert accepted.initiative_id == "hn.2025:ini_0001-a"


def test_a_title_that_is_not_a_string_is_refused():
    with pytest.raises(ValidationError) as refused:
        SubmitInitiative(**command(title=12345))
    assert fields_at_fault(refused) == {("title",)}

"""What notify tells whom: stable notification ids, members only, Vietnamese wording."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.events.awards import AwardEligibilityChanged
from contracts.events.common import TITLES
from services.notify.domain import (
    TITLE_NAMES,
    TITLE_NAMES_EN,
    eligibility_email_context,
    eligibility_messages,
    notification_id,
)


def change(**changes) -> AwardEligibilityChanged:
    fields = {"unit_id": "u-det-8-3", "campaign_id": "cmp-2025-hn", "phase_id": "p1",
              "subject_kind": "member", "subject_id": "m-lan", "title": "good_worker",
              "level": "grassroots", "eligible": True, "reason": "criteria_met"}
    return AwardEligibilityChanged(**(fields | changes))


def test_the_same_event_recipient_and_channel_always_give_the_same_notification_id():
    first = notification_id("evt-1", "m-lan", "in_app")
    assert notification_id("evt-1", "m-lan", "in_app") == first


def test_notification_ids_differ_by_event_by_recipient_and_by_channel():
    ids = {
        notification_id("evt-1", "m-lan", "in_app"),
        notification_id("evt-2", "m-lan", "in_app"),
        notification_id("evt-1", "m-hung", "in_app"),
        notification_id("evt-1", "m-lan", "email"),
    }
    assert len(ids) == 4


def test_a_redelivered_event_yields_the_same_message():
    assert eligibility_messages("evt-1", change()) == eligibility_messages("evt-1", change())


def test_a_member_hears_of_their_own_eligibility_in_the_in_app_inbox():
    [message] = eligibility_messages("evt-1", change())
    assert (message.recipient_id, message.recipient_kind, message.channel) == (
        "m-lan", "member", "in_app")
    assert message.template == "award_eligibility_changed"
    assert message.notification_id == notification_id("evt-1", "m-lan", "in_app")


def test_unit_subjects_get_no_member_message():
    assert eligibility_messages("evt-1", change(subject_kind="unit", subject_id="u-1")) == []


def test_eligible_wording_is_vietnamese_with_title_and_level_names():
    [message] = eligibility_messages("evt-1", change())
    assert message.subject == "Bạn đủ điều kiện xét danh hiệu “Công nhân giỏi” cấp cơ sở"
    assert message.body == (
        "Bạn đủ điều kiện xét danh hiệu “Công nhân giỏi” cấp cơ sở: đã đạt các tiêu chí. "
        "Chiến dịch cmp-2025-hn, đợt p1."
    )


def test_not_eligible_wording_names_the_missing_criterion():
    [message] = eligibility_messages("evt-1", change(
        title="creative_labour", level="district", eligible=False,
        reason="accepted_initiatives_missing"))
    assert message.subject == (
        "Bạn chưa đủ điều kiện xét danh hiệu “Lao động sáng tạo” cấp quận/huyện")
    assert "chưa có sáng kiến được công nhận" in message.body


def test_an_unknown_reason_is_shown_as_its_code_and_a_missing_phase_as_a_dash():
    [message] = eligibility_messages("evt-1", change(reason="lower_level_missing", phase_id=None))
    assert message.body.endswith(": lower_level_missing. Chiến dịch cmp-2025-hn, đợt —.")


def test_every_title_has_a_name_in_vietnamese_and_in_english():
    assert set(TITLE_NAMES) == set(TITLES)
    assert set(TITLE_NAMES_EN) == set(TITLES)
    assert all(TITLE_NAMES.values()) and all(TITLE_NAMES_EN.values())


@pytest.mark.parametrize("title", TITLES)
def test_messages_and_e_mails_name_each_title_not_its_code(title):
    [message] = eligibility_messages("evt-1", change(title=title))
    assert f"“{TITLE_NAMES[title]}”" in message.subject and title not in message.body
    at = datetime(2025, 6, 1, tzinfo=UTC)
    assert eligibility_email_context(change(title=title), at, "vi")["title"] == TITLE_NAMES[title]
    assert eligibility_email_context(change(title=title), at, "en")["title"] == (
        TITLE_NAMES_EN[title])

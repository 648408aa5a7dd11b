"""What notify tells whom, free of I/O: recipients and Vietnamese wording per event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from contracts.events.awards import AwardEligibilityChanged

# A name for every `Title` of contracts/events/common.py, in both languages.
TITLE_NAMES = {
    "good_worker": "Công nhân giỏi",
    "advanced_labourer": "Lao động tiên tiến",
    "grassroots_emulation_fighter": "Chiến sĩ thi đua cơ sở",
    "provincial_emulation_fighter": "Chiến sĩ thi đua cấp tỉnh",
    "national_emulation_fighter": "Chiến sĩ thi đua toàn quốc",
    "advanced_collective": "Tập thể lao động tiên tiến",
    "excellent_collective": "Tập thể lao động xuất sắc",
    "creative_labour": "Lao động sáng tạo",
    "good_at_work_and_home": "Giỏi việc nước, đảm việc nhà",
    "good_deeds": "Người tốt việc tốt",
    "outstanding_officer": "Cán bộ Công đoàn tiêu biểu",
    "exemplary_family": "Gia đình CNVCLĐ tiêu biểu",
    "emulation_flag": "Cờ thi đua xuất sắc",
    "certificate_of_merit": "Bằng khen",
}
LEVEL_NAMES = {"grassroots": "cơ sở", "district": "quận/huyện", "city": "Thành phố",
               "national": "toàn quốc"}
REASONS = {
    "min_points_not_reached": "chưa đủ điểm thi đua",
    "accepted_initiatives_missing": "chưa có sáng kiến được công nhận",
    "criteria_met": "đã đạt các tiêu chí",
}
# A stable namespace: the same (event, recipient, channel) always yields the same id.
_NAMESPACE = uuid.UUID("5b0e6f3c-5d0c-4f39-9a53-0b6f7d1e2a10")


@dataclass(frozen=True)
class Message:
    notification_id: str
    recipient_id: str
    recipient_kind: str
    channel: str
    template: str
    subject: str
    body: str


@dataclass(frozen=True)
class Outgoing:
    """A message with the event that caused it."""

    message: Message
    source_event_id: str
    correlation_id: str


def notification_id(source_event_id: str, recipient_id: str, channel: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{source_event_id}|{recipient_id}|{channel}"))


def eligibility_messages(event_id: str, change: AwardEligibilityChanged) -> list[Message]:
    """Members hear about their own eligibility in their in-app inbox."""
    if change.subject_kind != "member":
        return []
    title = f"“{TITLE_NAMES.get(change.title, change.title)}” cấp {LEVEL_NAMES[change.level]}"
    reason = REASONS.get(change.reason, change.reason)
    if change.eligible:
        subject = f"Bạn đủ điều kiện xét danh hiệu {title}"
    else:
        subject = f"Bạn chưa đủ điều kiện xét danh hiệu {title}"
    body = f"{subject}: {reason}. Chiến dịch {change.campaign_id}, đợt {change.phase_id or '—'}."
    return [
        Message(
            notification_id(event_id, change.subject_id, "in_app"),
            change.subject_id, "member", "in_app", "award_eligibility_changed", subject, body,
        )
    ]


# The same names in English, for members who asked for English e-mail.
TITLE_NAMES_EN = {
    "good_worker": "Good Worker",
    "advanced_labourer": "Advanced Labourer",
    "grassroots_emulation_fighter": "Grassroots Emulation Fighter",
    "provincial_emulation_fighter": "Provincial Emulation Fighter",
    "national_emulation_fighter": "National Emulation Fighter",
    "advanced_collective": "Advanced Labour Collective",
    "excellent_collective": "Excellent Labour Collective",
    "creative_labour": "Creative Labour",
    "good_at_work_and_home": "Good at Work, Good at Home",
    "good_deeds": "Good Person, Good Deeds",
    "outstanding_officer": "Outstanding Union Officer",
    "exemplary_family": "Exemplary Worker Family",
    "emulation_flag": "Excellent Emulation Flag",
    "certificate_of_merit": "Certificate of Merit",
}
LEVEL_NAMES_EN = {"grassroots": "grassroots", "district": "district", "city": "city",
                  "national": "national"}
REASONS_EN = {
    "min_points_not_reached": "not enough emulation points yet",
    "accepted_initiatives_missing": "no accepted initiative yet",
    "criteria_met": "all criteria are met",
}


def eligibility_email_context(change: AwardEligibilityChanged, changed_at: datetime,
                              language: str) -> dict:
    """What the `award_eligibility_changed` e-mail templates are filled with."""
    english = language == "en"
    titles, levels, reasons = ((TITLE_NAMES_EN, LEVEL_NAMES_EN, REASONS_EN) if english else
                               (TITLE_NAMES, LEVEL_NAMES, REASONS))
    return {
        "eligible": change.eligible,
        "title": titles.get(change.title, change.title),
        "level": levels.get(change.level, change.level),
        "reason": reasons.get(change.reason, change.reason),
        "campaign_id": change.campaign_id,
        "phase_id": change.phase_id,
        "changed_at": changed_at,
    }


def webhook_delivery_id(event_id: str, webhook_id: str) -> str:
    """The same (event, subscription) always yields the same delivery (and `webhook-id`)."""
    return "msg-" + uuid.uuid5(_NAMESPACE, f"{event_id}|webhook|{webhook_id}").hex

"""The fan-out's plan: what each notice says, once; per member only ids and flags; the
announcement's stand-ins, once each, filled in to a valid event."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from contracts import CloudEvent, decode_event, new_event
from contracts.events.campaigns import PhaseClosed
from services.notify import fanout
from services.notify.domain import notification_id
from services.notify.fanout import Recipient
from services.notify.triggers import Audience, Notice
from services.runtime.context import Envelopes

NOW = datetime(2025, 5, 31, 10, tzinfo=UTC)


def closed() -> CloudEvent:
    return new_event(PhaseClosed(campaign_id="cmp-1", phase_id="cmp-1-p1", closed_at=NOW,
                                 closed_by_unit_id="d-dongda", accepted_counts={}),
                     source="/thidua/registration", district="d-dongda", time=NOW)


def notice(event, audience: str, in_app: tuple[str, str] | None = None) -> Notice:
    def context(lang: str) -> dict:
        return {"audience": audience, "campaign": "Thi đua 90 ngày", "phase": "Đợt 1",
                "closed_at": NOW, "closed_by": "LĐLĐ quận Đống Đa"}
    return Notice(event, "phase_closed", Audience(date(2025, 5, 31), officials_below="d"),
                  context, in_app)


def test_each_member_hears_an_event_once_as_the_first_audience_and_each_text_is_made_once():
    event = closed()
    notices = [notice(event, "official", ("Đã kết thúc Đợt 1", "Đợt 1 đã khóa sổ.")),
               notice(event, "official")]
    recipients = [Recipient(0, "m-1", "vi", True, True, False),
                  Recipient(0, "m-2", "en", True, True, False),
                  Recipient(0, "m-3", "vi", False, True, True),
                  Recipient(1, "m-1", "vi", True, True, False),  # already heard it
                  Recipient(1, "m-4", "vi", True, False, False)]
    plan = fanout.plan(notices, recipients, NOW, Envelopes("notify"))
    assert [(r.idx, r.member_id) for r in plan.reach] == [
        (0, "m-1"), (0, "m-2"), (0, "m-3"), (1, "m-4")]
    assert plan.reach[0].in_app_id == notification_id(event.id, "m-1", "in_app")
    assert plan.reach[0].email_id == notification_id(event.id, "m-1", "email")
    assert (plan.reach[2].in_app_id, plan.reach[2].digest) == (None, True)
    assert plan.reach[3].email_id is None
    assert (plan.notices[0].idx, plan.notices[0].subject) == (0, "Đã kết thúc Đợt 1")
    assert len(plan.notices) == 2
    assert sorted((m.idx, m.language) for m in plan.mails) == [(0, "en"), (0, "vi")]
    assert all(m.body_id == fanout.body_id(m.text, m.html) for m in plan.mails)


def test_the_announcement_holds_each_stand_in_once_and_filled_in_is_a_delivered_event():
    event = closed()
    plan = fanout.plan([notice(event, "official", ("Đã kết thúc", "Đợt 1 đã khóa sổ."))],
                       [Recipient(0, "m-1", "vi", True, False, False)], NOW,
                       Envelopes("notify"))
    [row] = plan.notices
    s = plan.stand_ins
    text = row.announcement
    for stand_in in (s.event_id, s.notification_id):
        assert text.count(f'"{stand_in}"') == 1
    assert text.count(f'"{s.recipient_id}"') == 2  # the subject and the recipient
    # As the fan-out statement fills it in, with JSON-escaped values.
    member = 'm-"odd"\\id'
    filled = (text.replace(f'"{s.event_id}"', json.dumps("0d5c6a3e-1b7f-4c39-9f39-4f6f6d1f2a11"))
              .replace(f'"{s.recipient_id}"', json.dumps(member))
              .replace(f'"{s.notification_id}"', json.dumps("n-1")))
    announced = decode_event(filled.encode())
    assert announced.type == "thidua.notification.delivered.v1"
    assert (announced.subject, announced.data.recipient_id) == (member, member)
    assert (announced.causationid, announced.correlationid) == (event.id, event.correlationid)
    assert (announced.data.notification_id, announced.data.delivered_at) == ("n-1", NOW)

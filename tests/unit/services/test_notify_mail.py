"""Notify's e-mail rendering: Vietnamese dates and amounts, templates per language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.notify import mail
from services.runtime.vietnamese import vn_date, vnd


@pytest.mark.parametrize(("amount", "written"), [
    (120_000_000, "120.000.000\u00a0₫"),
    (0, "0\u00a0₫"),
    (999, "999\u00a0₫"),
    (1_000, "1.000\u00a0₫"),
    (Decimal("1234567.5"), "1.234.567,5\u00a0₫"),
    (-2_500_000, "-2.500.000\u00a0₫"),
])
def test_vnd_amounts_group_thousands_with_dots(amount, written):
    assert vnd(amount) == written


def test_dates_are_written_day_month_year_on_vietnamese_time():
    assert vn_date(date(2025, 7, 1)) == "01/07/2025"
    assert vn_date(datetime(2025, 6, 30, 17, 0, tzinfo=UTC)) == "01/07/2025"  # 00:00 ICT
    assert vn_date(datetime(2025, 6, 30, 16, 59, tzinfo=UTC)) == "30/06/2025"


def test_templates_use_the_filters():
    rendered = mail.ENVIRONMENT.from_string(
        "Tiền làm lợi {{ amount | vnd }} ngày {{ day | vn_date }}").render(
        amount=120_000_000, day=date(2025, 9, 2))
    assert rendered == "Tiền làm lợi 120.000.000\u00a0₫ ngày 02/09/2025"


def test_html_is_escaped_and_text_is_not():
    context = {"eligible": True, "title": "<b>X</b> & Y", "level": "cơ sở", "reason": "r",
               "campaign_id": "c", "phase_id": None, "changed_at": date(2025, 1, 2)}
    rendered = mail.render("award_eligibility_changed", "vi", context)
    assert "&lt;b&gt;X&lt;/b&gt; &amp; Y" in rendered.html
    assert "<b>X</b> & Y" in rendered.text
    assert "Đợt: —" in rendered.text


def test_an_unknown_language_falls_back_to_vietnamese():
    context = {"eligible": False, "title": "T", "level": "cơ sở", "reason": "r",
               "campaign_id": "c", "phase_id": "p", "changed_at": date(2025, 1, 2)}
    assert mail.render("award_eligibility_changed", "fr", context).subject.startswith(
        "Bạn chưa đủ điều kiện")


def test_the_message_id_is_stable_per_notification():
    message = mail.build_message(
        sender="Thi đua <no-reply@thidua.vn>", to="a@example.vn", subject="S", text="t",
        html="<p>h</p>", notification_id="n-1", domain=mail.domain_of("x <no-reply@thidua.vn>"),
        language="vi", sent_at=datetime(2025, 1, 2, tzinfo=UTC))
    assert message["Message-ID"] == "<n-1@thidua.vn>"
    assert message.get_body(("plain",)).get_content() == "t\n"
    assert message.get_body(("html",)).get_content().strip() == "<p>h</p>"


def test_numbers_are_grouped_the_vietnamese_way():
    from services.runtime.vietnamese import number

    assert [number(v) for v in (0, 1234, "1234.50", 10, -2500000)] == [
        "0", "1.234", "1.234,5", "10", "-2.500.000"]


def test_every_template_renders_in_both_languages():
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from services.notify.mail import render

    moment = datetime(2025, 6, 30, 20, tzinfo=UTC)
    common = {"audience": "official", "initiative_title": "Sổ điểm điện tử", "field": "giáo dục",
              "unit_name": "CĐCS Trường THCS Láng Thượng", "authors": ["Lê Thu Hoa"],
              "claimed_benefit_vnd": Decimal(120_000_000), "campaign": "Thi đua 90 ngày",
              "phase": "Đợt 1", "submitted_at": moment, "accepted": True, "level": "cơ sở",
              "grade": "A", "recognised_benefit_vnd": Decimal(95_000_000), "reason": None,
              "council": "LĐLĐ quận Đống Đa", "reviewed_at": moment, "counterparts": [],
              "targets": [{"description": "Sáng kiến", "value": Decimal(10),
                           "unit": "sáng kiến"}], "signed_on": date(2025, 6, 1),
              "closed_at": moment, "closed_by": "LĐLĐ quận Đống Đa", "finalized_at": moment,
              "subject_name": "Lê Thu Hoa", "title": "Công nhân giỏi", "points": Decimal("87.5"),
              "quota": None, "quota_rank": 1, "proposed_at": moment,
              "decision_number": "125/QĐ-LĐLĐ", "decision_date": date(2025, 7, 1),
              "issuer_name": "LĐLĐ quận Đống Đa", "day": date(2025, 7, 1), "items": [],
              "more": 0, "total": 0, "inbox_url": "https://thidua.test", "channel": "email",
              "cluster": "Cụm thi đua số 1"}
    for template in ("initiative_submitted", "initiative_reviewed", "pledge_signed",
                     "phase_closed", "standings_finalized", "award_proposed", "award_granted",
                     "digest"):
        for language in ("vi", "en"):
            rendered = render(template, language, common)
            assert rendered.subject and "\n" not in rendered.subject, (template, language)
            assert rendered.text.strip() and "<html" in rendered.html, (template, language)
    assert "120.000.000\u00a0₫" in render("initiative_submitted", "vi", common).text
    assert "01/07/2025" in render("phase_closed", "vi", common).text  # 20:00 UTC is 1 Jul
    in_app = render("phase_closed", "vi", common | {"channel": "in_app"}).text
    assert "gửi tự động" not in in_app and "gửi tự động" in render(
        "phase_closed", "vi", common).text


def _shared() -> mail.Shared:
    return mail.shared(sender="Thi đua Công đoàn <no-reply@thidua.vn>",
                       subject="Đã kết thúc Đợt 1 — Lao động giỏi, lao động sáng tạo " * 2,
                       text="Kính gửi Ban Chấp hành,\n\nĐợt 1 đã khóa sổ.\n",
                       html="<p>Kính gửi Ban Chấp hành,</p><p>Đợt 1 đã khóa sổ.</p>",
                       language="vi")


def _outgoing(to: str = "lan.nguyen@example.vn", part: mail.Shared | None = None
              ) -> mail.Outgoing:
    return mail.Outgoing(part or _shared(), to, "n-1", "thidua.vn", datetime(2025, 1, 2, 3, 4, tzinfo=UTC))


def test_an_email_composed_from_its_shared_part_reads_as_the_one_built_whole():
    from email import message_from_bytes, policy

    outgoing = _outgoing()
    composed = message_from_bytes(outgoing.data(), policy=policy.default)
    whole = outgoing.message()
    assert not composed.defects
    for header in ("From", "To", "Subject", "Message-ID", "Date", "Auto-Submitted",
                   "Content-Language", "MIME-Version"):
        assert str(composed[header]) == str(whole[header]), header
    # Every space of a long Vietnamese subject survives its folding over several lines.
    assert composed["Subject"] == outgoing.shared.subject
    assert composed["Message-ID"] == "<n-1@thidua.vn>"
    for kind in ("plain", "html"):  # on the wire, lines end in CRLF
        assert (composed.get_body((kind,)).get_content().replace("\r\n", "\n")
                == whole.get_body((kind,)).get_content())
    # CRLF throughout, and no line beyond what SMTP allows.
    lines = outgoing.data().split(b"\r\n")
    assert b"\n" not in b"".join(lines) and max(map(len, lines)) <= 998


def test_the_per_recipient_lines_are_all_that_differ_between_recipients():
    part = _shared()
    first, second = _outgoing("a@example.vn", part), _outgoing("b@example.vn", part)
    assert first.data().split(b"\r\n", 3)[3] == second.data().split(b"\r\n", 3)[3]


def test_an_address_that_must_be_encoded_is_not_written_as_is():
    assert _outgoing().plain
    for odd in ("lan nguyen@example.vn", "lan@example.vn\r\nBcc: x@evil.vn",
                "nguyễn@example.vn", "<lan@example.vn>", ""):
        assert not _outgoing(odd).plain, odd

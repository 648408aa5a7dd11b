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

"""The closing report's text and HTML, rendered from the seeds' figures."""

from __future__ import annotations

from decimal import Decimal

from services.devstack.demo_report import bar_chart, charts_of, render_html, render_text
from tests.support.report_sample import seeds_report


def test_text_report_has_english_headers_and_vietnamese_figures():
    text = render_text(seeds_report())
    for header in ("Leaderboard", "Initiatives and benefit per district",
                   "Award pyramid by title and level", "Notifications per channel"):
        assert header in text
    assert "12.400.000.000\u00a0₫" in text  # VND number with dots
    assert "22.570.500.000\u00a0₫" in text  # the districts' total
    assert "60.220" in text and "661,29" in text  # a count and a decimal, Vietnamese style
    lines = text.splitlines()
    pyramid = [line for line in lines if line.startswith("Lao động giỏi")]
    assert [line.split()[-1] for line in pyramid] == ["60.220", "2.530", "100"]  # base first


def test_html_is_self_contained_and_escapes_names():
    report = seeds_report()
    html = render_html(report)
    assert "<script src" not in html and "<link" not in html and "http://" not in html
    assert html.count('<svg class="chart') == len(charts_of(report)) == 2 + 1 + 2
    hostile = report.__class__(**{**report.__dict__, "campaign": "<b>Năm 2025</b>"})
    assert "&lt;b&gt;Năm 2025&lt;/b&gt;" in render_html(hostile)


def test_every_non_zero_value_gets_a_visible_bar_and_zero_none():
    chart = bar_chart("c", "c", [("a", Decimal(1_000_000), "x"), ("b", Decimal(1), "y"),
                                 ("z", Decimal(0), "0")])
    assert chart.bars[0].width == chart.bar_area
    assert chart.bars[1].width >= 3 and chart.bars[2].width == 0


def test_pyramid_on_log_scale_keeps_its_shape():
    chart = bar_chart("p", "p", [("city", 100, ""), ("district", 2_530, ""),
                                 ("grassroots", 60_220, "")], log_scale=True, centred=True)
    widths = [bar.width for bar in chart.bars]
    assert widths == sorted(widths) and widths[0] > chart.bar_area / 3

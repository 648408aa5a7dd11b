"""The demo's closing report: what a federation's emulation office reads at a phase's end.

Two renderings of one `DemoReport`: a terminal text (Vietnamese, with English headers) and a
self-contained HTML page whose charts are inline SVG drawn here, so the file opens anywhere,
offline, with nothing fetched. The figures come from the services' public APIs (the demo fills
the report); nothing here computes standings or awards.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.runtime.vietnamese import VIETNAM, number, vnd

_TEMPLATES = Path(__file__).parent / "templates" / "report"
LEVEL_NAMES = {"grassroots": "Cơ sở", "district": "Quận/huyện", "city": "Thành phố",
               "national": "Toàn quốc"}
LEVEL_ORDER = ("national", "city", "district", "grassroots")  # top of the pyramid first
CHANNEL_NAMES = {"in_app": "Hộp thư trong ứng dụng", "email": "Thư điện tử",
                 "webhook": "Webhook"}


@dataclass(frozen=True)
class Ranked:
    rank: int
    name: str
    total_points: Decimal
    ranking_points: Decimal
    members: int | None = None


@dataclass(frozen=True)
class Leaderboard:
    scope: Literal["cluster", "district", "city"]
    name: str
    entries: tuple[Ranked, ...]


@dataclass(frozen=True)
class DistrictInitiatives:
    district: str
    submitted: int
    accepted: int
    benefit_vnd: Decimal


@dataclass(frozen=True)
class PyramidStep:
    title: str  # as printed, e.g. "Lao động giỏi"
    level: str  # grassroots, district, city, national
    count: int


@dataclass(frozen=True)
class ChannelDeliveries:
    channel: str  # in_app, email, webhook
    delivered: int
    failed: int = 0


@dataclass(frozen=True)
class DemoReport:
    campaign: str
    phase: str
    generated_at: datetime
    leaderboards: tuple[Leaderboard, ...] = ()
    initiatives: tuple[DistrictInitiatives, ...] = ()
    pyramid: tuple[PyramidStep, ...] = ()
    notifications: tuple[ChannelDeliveries, ...] = ()
    notes: tuple[str, ...] = field(default=())


# --- text -------------------------------------------------------------------------------

def render_text(report: DemoReport) -> str:
    moment = report.generated_at.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")
    parts = [f"BÁO CÁO THI ĐUA — Emulation report\n{report.campaign} · {report.phase} · {moment}"]
    for board in report.leaderboards:
        scope = {"cluster": "Cụm thi đua", "district": "Quận/huyện", "city": "Thành phố"}
        parts.append(_table(
            f"Bảng xếp hạng — Leaderboard: {scope[board.scope]} {board.name}",
            ("Hạng / Rank", "Đơn vị / Unit", "Điểm / Points", "Điểm xếp hạng / Ranking", "ĐV / Members"),
            [(str(e.rank), e.name, number(e.total_points), number(e.ranking_points),
              "" if e.members is None else number(e.members)) for e in board.entries],
            right=(0, 2, 3, 4)))
    if report.initiatives:
        rows = [(d.district, number(d.submitted), number(d.accepted), vnd(d.benefit_vnd))
                for d in report.initiatives]
        total = (Decimal(sum(d.submitted for d in report.initiatives)),
                 Decimal(sum(d.accepted for d in report.initiatives)),
                 sum((d.benefit_vnd for d in report.initiatives), Decimal(0)))
        rows.append(("Tổng cộng", number(total[0]), number(total[1]), vnd(total[2])))
        parts.append(_table(
            "Sáng kiến và giá trị làm lợi — Initiatives and benefit per district",
            ("Quận/huyện / District", "Đăng ký / Submitted", "Công nhận / Accepted",
             "Làm lợi / Benefit"), rows, right=(1, 2, 3)))
    if report.pyramid:
        parts.append(_table(
            "Tháp khen thưởng — Award pyramid by title and level",
            ("Danh hiệu / Title", "Cấp / Level", "Số lượng / Count"),
            [(s.title, LEVEL_NAMES.get(s.level, s.level), number(s.count))
             for s in _pyramid_order(report.pyramid)], right=(2,)))
    if report.notifications:
        parts.append(_table(
            "Thông báo theo kênh — Notifications per channel",
            ("Kênh / Channel", "Đã gửi / Delivered", "Lỗi / Failed"),
            [(CHANNEL_NAMES.get(c.channel, c.channel), number(c.delivered), number(c.failed))
             for c in report.notifications], right=(1, 2)))
    parts.extend(report.notes)
    return "\n\n".join(parts) + "\n"


def _table(heading: str, header: Sequence[str], rows: Sequence[Sequence[str]],
           right: Iterable[int] = ()) -> str:
    aligned_right = set(right)
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.rjust(widths[i]) if i in aligned_right else cell.ljust(widths[i])
                         for i, cell in enumerate(cells)).rstrip()

    rule = "  ".join("─" * w for w in widths)
    return "\n".join([heading, line(header), rule, *(line(r) for r in rows)])


def _pyramid_order(steps: Iterable[PyramidStep]) -> list[PyramidStep]:
    rank = {level: i for i, level in enumerate(reversed(LEVEL_ORDER))}
    return sorted(steps, key=lambda s: (s.title, rank.get(s.level, 99)))


# --- HTML -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    label: str
    value_text: str
    y: float
    width: float


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart's geometry, in SVG user units."""

    chart_id: str
    caption: str
    bars: tuple[Bar, ...]
    height: float
    label_width: float = 300
    bar_area: float = 420
    centred: bool = False  # a pyramid: bars centred on one axis

    @property
    def width(self) -> float:
        return self.label_width + self.bar_area + 150


def bar_chart(chart_id: str, caption: str, rows: Sequence[tuple[str, Decimal | int, str]],
              *, log_scale: bool = False, centred: bool = False) -> Chart:
    """Bars proportional to each value (or to its logarithm, for a pyramid whose steps differ
    by orders of magnitude); a non-zero value always gets a visible bar."""
    def scaled(value: Decimal | int) -> float:
        number = float(value)
        return math.log10(number + 1) if log_scale else number

    top = max((scaled(v) for _, v, _ in rows), default=0.0) or 1.0
    bar_area, row_height = 420.0, 26.0
    bars = tuple(
        Bar(_fit(label), text, y=10 + i * row_height,
            width=0.0 if not value else max(3.0, bar_area * scaled(value) / top))
        for i, (label, value, text) in enumerate(rows))
    return Chart(chart_id, caption, bars, height=20 + len(rows) * row_height,
                 bar_area=bar_area, centred=centred)


def _fit(label: str, limit: int = 44) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def charts_of(report: DemoReport) -> list[Chart]:
    charts: list[Chart] = []
    for i, board in enumerate(report.leaderboards):
        charts.append(bar_chart(
            f"leaderboard-{i}", f"Xếp hạng {board.name} — Leaderboard",
            [(f"{e.rank}. {e.name}", e.ranking_points, number(e.ranking_points))
             for e in board.entries[:15]]))
    if report.initiatives:
        charts.append(bar_chart(
            "benefit", "Giá trị làm lợi theo quận/huyện — Benefit per district (VND)",
            [(d.district, d.benefit_vnd, vnd(d.benefit_vnd)) for d in report.initiatives]))
    titles = sorted({s.title for s in report.pyramid})
    for i, title in enumerate(titles):
        steps = {s.level: s.count for s in report.pyramid if s.title == title}
        charts.append(bar_chart(
            f"pyramid-{i}", f"Tháp khen thưởng: {title} — Award pyramid (log scale)",
            [(LEVEL_NAMES.get(level, level), steps[level], number(steps[level]))
             for level in LEVEL_ORDER if level in steps], log_scale=True, centred=True))
    return charts


def render_html(report: DemoReport) -> str:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), undefined=StrictUndefined,
                      autoescape=select_autoescape(enabled_extensions=("html",)),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["number"] = number
    env.filters["vnd"] = vnd
    env.globals["level_name"] = lambda level: LEVEL_NAMES.get(level, level)
    env.globals["channel_name"] = lambda channel: CHANNEL_NAMES.get(channel, channel)
    moment = report.generated_at.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")
    return env.get_template("report.html").render(
        report=report, charts=charts_of(report), moment=moment,
        pyramid=_pyramid_order(report.pyramid))


def write_html(report: DemoReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path

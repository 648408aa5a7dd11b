"""The city federation's campaign of the year: two phases with their themes and, between them,
the 90-day peak drive before 28/7 (the seeds' "đợt cao điểm 90 ngày"), with the award rule set
the scenario is judged by.

The phases tile the year, so exactly one of them holds any day: the scenario acts in the phase
that holds today (Vietnam time) and closes it early, as a federation closes a phase at its
review conference (sơ kết) — closing before `ends_on` is allowed. Pure data.
"""

from __future__ import annotations

from datetime import date, timedelta

from contracts.events.rules import AwardRules

from .demo_directory import CITY

PEAK_OCCASION = "28/7 — Ngày thành lập Công đoàn Việt Nam"
PEAK_DAYS = 90


def campaign_id(year: int) -> str:
    return f"kh-hn-{year}"


def phases(year: int) -> list[dict]:
    """Đợt 1 to the peak's eve, the 90 days ending the day before 28/7, then Đợt 2."""
    peak_ends = date(year, 7, 27)
    peak_starts = peak_ends - timedelta(days=PEAK_DAYS - 1)  # 29 April
    cid = campaign_id(year)
    return [
        {"phase_id": f"{cid}-dot-1", "name": f"Đợt 1 năm {year}", "kind": "regular",
         "starts_on": f"{year}-01-01", "ends_on": (peak_starts - timedelta(days=1)).isoformat(),
         "theme": "Lao động giỏi, lao động sáng tạo, chào mừng Đại hội Công đoàn các cấp"},
        {"phase_id": f"{cid}-cao-diem-28-7", "name": "Đợt cao điểm 90 ngày chào mừng 28/7",
         "kind": "peak", "starts_on": peak_starts.isoformat(), "ends_on": peak_ends.isoformat(),
         "theme": "90 ngày thi đua cao điểm: mỗi công đoàn cơ sở một công trình, mỗi đoàn viên "
                  "một sáng kiến", "occasion": PEAK_OCCASION},
        {"phase_id": f"{cid}-dot-2", "name": f"Đợt 2 năm {year}", "kind": "regular",
         "starts_on": (peak_ends + timedelta(days=1)).isoformat(), "ends_on": f"{year}-12-31",
         "theme": "Về đích kế hoạch năm, chăm lo Tết cho đoàn viên, người lao động"},
    ]


def phase_holding(year_phases: list[dict], today: date) -> dict:
    return next(p for p in year_phases
                if date.fromisoformat(p["starts_on"]) <= today <= date.fromisoformat(p["ends_on"]))


def award_rules() -> dict:
    """The federation's defaults for the titles the scenario proposes, with two settings of
    the campaign: no disclosure wait (the demo's decisions follow at once; the law's period
    was not verified, DOMAIN-RULES.md) and one good-worker place per ward union at district
    level, a quota that binds. Creative labour is read per level without consuming the
    initiative, so each level's approval rests on the same recognised benefit."""
    defaults = AwardRules()
    keep = {
        "advanced_labourer": {},
        "good_worker": {"levels": ["grassroots", "district"], "quotas": {"district": 1},
                        "quota_percent": {}},
        "creative_labour": {"consumes_initiatives": False},
        "emulation_flag": {},
    }
    titles = []
    for name, changes in keep.items():
        rule = defaults.title(name)
        titles.append(rule.model_copy(update=changes).model_dump(mode="json"))
    return {"titles": titles, "disclosure_days": 0}


def scenario_campaign(year: int) -> dict:
    """The body of `POST /campaigns`."""
    return {
        "campaign_id": campaign_id(year),
        "organizer_unit_id": CITY,
        "year": year,
        "theme": f"Đổi mới, sáng tạo, nâng cao năng suất lao động năm {year}",
        "movements": ["Lao động giỏi, lao động sáng tạo", "Giỏi việc nước, đảm việc nhà",
                      "Xanh – Sạch – Đẹp, bảo đảm an toàn vệ sinh lao động"],
        "phases": phases(year),
        "awards": award_rules(),
    }

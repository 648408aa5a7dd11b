"""A campaign's award rule set: the titles, their criteria, quotas and prerequisites, the
exclusions and the tie-break, with the defaults' legal sources (DOMAIN-RULES.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from contracts.events.common import Level, Points, SubjectKind, Title, Vnd
from contracts.events.rule_base import RulesModel

ExclusionKind = Literal[
    "absent_40_days", "not_registered", "recruited_under_10_months",
    "administrative_penalty", "disciplined",
]
"""A disqualifier recorded against a member for a year (DOMAIN-RULES.md, "Exclusions from
awards" in one grassroots union's guideline): 40 or more days off work in the year, not
registered for emulation, recruited less than 10 months ago, an administrative penalty,
discipline at reprimand level or above."""
EXCLUSION_KINDS: tuple[str, ...] = (
    "absent_40_days", "not_registered", "recruited_under_10_months",
    "administrative_penalty", "disciplined",
)

VGCL_CREATIVE_LABOUR = (
    "VGCL award rules 1564/QĐ-TLĐ (2014) art. 16 (DOMAIN-RULES.md): an initiative with "
    "recognised benefit of at least 80 M VND for workers trained to college level or below "
    "(or 120 M VND over 3 consecutive years), 150 M VND for university-trained staff, 200 M "
    "VND for managers. Revised in 2017, 2019 and 2024 (999/QĐ-TLĐ); whether the 2024 text keeps "
    "these thresholds is not verified, so they are defaults of this rule set."
)


class Prerequisite(RulesModel):
    """Another title the subject must hold first: in this round, or in earlier years."""

    title: Title = Field(description="The title required.")
    level: Level = Field(description="At which level it must be held.")
    consecutive_years: int = Field(
        1, ge=1, le=10,
        description="Held in this many consecutive years ending with the campaign's year; the "
        "campaign's own year counts when the subject is proposed for it in this round, earlier "
        "years come from the title history (decisions recorded or imported).",
    )
    same_round: bool = Field(
        False, description="Required in this round only (proposed within quota at `level` "
        "in the same campaign phase), e.g. advanced labourer for grassroots emulation fighter.",
    )


class MemberShare(RulesModel):
    """For a collective: a share of its members proposed for a title in the same round."""

    title: Title = Field(description="The member title counted, e.g. `advanced_labourer`.")
    min_percent: Decimal = Field(
        Decimal(0), ge=0, le=100, description="At least this percentage of the unit's members."
    )
    min_count: int = Field(0, ge=0, description="And at least this many members.")


class RatioCap(RulesModel):
    """At most `max_percent` awards of `title` per `of_title` award, per issuer and level."""

    title: Title = Field(description="The title capped.")
    of_title: Title = Field(description="The title it is a share of.")
    level: Level = Field(description="Level at which both are counted, per issuer.")
    max_percent: Decimal = Field(gt=0, le=100, description="The cap, in percent.")
    enabled: bool = Field(False, description="Applied only when true.")
    description: str = Field("", description="Why, with the source.")


class TitleRule(RulesModel):
    title: Title = Field(description="The title this rule governs.")
    subject_kind: SubjectKind = Field(description="Awarded to members or to units.")
    levels: list[Level] = Field(description="Levels at which the title can be awarded, lowest first.")
    description: str = Field("", description="What the title rewards, citing its source.")
    min_points: Points = Field(Decimal(0), description="Minimum phase points to be eligible.")
    min_accepted_initiatives: int = Field(
        0, ge=0, description="Minimum accepted initiatives to be eligible."
    )
    min_initiative_level: Level | None = Field(
        None, description="Needs an accepted initiative recognised at this level or higher, "
        "not yet consumed by another award (one achievement, one award).",
    )
    min_recognised_benefit_vnd: Vnd = Field(
        0, description="Needs accepted initiatives whose recognised benefit adds up to this "
        "(VND), not yet consumed by another award.",
    )
    consumes_initiatives: bool = Field(
        False, description="A decision granting this title consumes the initiatives it rests "
        "on: they count for no other title or award (Law art. 5.2; guidance 5007/BNV-TĐKT).",
    )
    women_only: bool = Field(False, description="Reserved to women members.")
    officers_only: bool = Field(False, description="Reserved to union officers.")
    direct_workers_only: bool = Field(
        False, description="Reserved to members who directly produce (trực tiếp sản xuất).")
    requires: list[Prerequisite] = Field(
        default_factory=list, description="Titles the subject must hold first.")
    member_shares: list[MemberShare] = Field(
        default_factory=list,
        description="For a collective: shares of its members proposed for member titles.")
    quotas: dict[Level, int] = Field(
        default_factory=dict,
        description="Maximum awards of this title per issuing unit at each level (absent: "
        "no cap). Quotas stop award inflation (khen thưởng tràn lan).",
    )
    quota_percent: dict[Level, Decimal] = Field(
        default_factory=dict,
        description="Maximum awards at a level as a percentage of that issuer's eligible "
        "candidates at the level (rounded down, at least 1 when any is eligible); with a fixed "
        "quota too, the smaller binds.",
    )
    per_cluster: bool = Field(
        False, description="Quotas count per cluster rather than per issuer (emulation flag)."
    )
    cash_multiple: dict[Level, Decimal] = Field(
        default_factory=dict,
        description="Cash reward per recipient at each level, as a multiple of the base salary "
        "(the awards service's `AWARDS_BASE_SALARY_VND`).",
    )

    @property
    def computed(self) -> bool:
        """Whether scores, facts and attributes decide the title (otherwise peers nominate)."""
        return bool(self.min_points > 0 or self.min_accepted_initiatives or
                    self.min_initiative_level or self.min_recognised_benefit_vnd or
                    self.requires or self.member_shares)


def _member_title(title: Title, **kwargs) -> TitleRule:
    kwargs.setdefault("levels", ["grassroots", "district", "city"])
    return TitleRule(title=title, subject_kind="member", **kwargs)


def _default_titles() -> list[TitleRule]:
    d = Decimal
    return [
        _member_title(
            "advanced_labourer", levels=["grassroots"], min_points=d(2),
            cash_multiple={"grassroots": d("0.3")},
            description="Lao động tiên tiến: completes duties and takes part in emulation (Law "
            "06/2022/QH15 art. 24). Taking part shows as at least the participation points (2, "
            "a setting). Cash 0.3 × base salary (secondary source)."),
        _member_title(
            "grassroots_emulation_fighter", levels=["grassroots"],
            requires=[Prerequisite(title="advanced_labourer", level="grassroots",
                                   same_round=True)],
            min_initiative_level="grassroots", consumes_initiatives=True,
            cash_multiple={"grassroots": d("1.0")},
            description="Chiến sĩ thi đua cơ sở: an advanced labourer with an initiative "
            "recognised at grassroots level (Law art. 23). Cash 1.0 × base salary (Decree 98 "
            "art. 54). The old 15 % cap over advanced labourers is `ratio_caps`, off."),
        _member_title(
            "provincial_emulation_fighter", levels=["city"],
            requires=[Prerequisite(title="grassroots_emulation_fighter", level="grassroots",
                                   consecutive_years=3)],
            min_initiative_level="city", consumes_initiatives=True,
            cash_multiple={"city": d("3.0")},
            description="Chiến sĩ thi đua cấp tỉnh: 3 consecutive grassroots emulation fighter "
            "titles and an initiative whose reach spans the province, read as recognised at "
            "city level (Law art. 22). Cash 3.0 × base salary (Decree 98 art. 54)."),
        _member_title(
            "national_emulation_fighter", levels=["national"],
            requires=[Prerequisite(title="provincial_emulation_fighter", level="city",
                                   consecutive_years=2)],
            min_initiative_level="national", consumes_initiatives=True,
            cash_multiple={"national": d("4.5")},
            description="Chiến sĩ thi đua toàn quốc: 2 consecutive provincial titles and an "
            "initiative of national reach (Law art. 21). Cash 4.5 × base salary (Decree 98 "
            "art. 54)."),
        _member_title(
            "good_worker", min_points=d(20),
            quota_percent={"district": d(5)}, quotas={"city": 100},
            description="Công nhân giỏi (grassroots, district) and Công nhân giỏi Thủ đô (Hanoi "
            "federation, since 2008, secondary source): for workers who directly produce; the "
            "city honours about 100 a year from ~60,000 at grassroots and ~2,500 at upper level "
            "(2025: 60,220 → 2,530 → 100). 20 points and the 5 % district share are settings."),
        _member_title(
            "creative_labour", min_accepted_initiatives=1,
            min_recognised_benefit_vnd=80_000_000, consumes_initiatives=True,
            description="Bằng Lao động sáng tạo of the VGCL, proposed up to the city federation, "
            "which submits it. " + VGCL_CREATIVE_LABOUR),
        _member_title("good_at_work_and_home", women_only=True,
                      quotas={"district": 50, "city": 5},
                      description="Giỏi việc nước, đảm việc nhà: women members, nominated by "
                      "peers (bình xét); quotas are settings."),
        _member_title("good_deeds", quotas={"district": 100, "city": 10},
                      description="Người tốt việc tốt: nominated by peers; quotas are settings."),
        _member_title("outstanding_officer", officers_only=True,
                      quotas={"district": 20, "city": 5},
                      description="Cán bộ công đoàn tiêu biểu: union officers, nominated; "
                      "quotas are settings."),
        # The seeds' pyramid: 3,015 families at grassroots, 62 at district, 3 at city.
        _member_title("exemplary_family", quotas={"district": 62, "city": 3},
                      description="Gia đình công nhân lao động tiêu biểu: nominated by peers; "
                      "quotas follow the seeds' pyramid (3,015 → 62 → 3)."),
        TitleRule(
            title="advanced_collective", subject_kind="unit", levels=["district"],
            member_shares=[MemberShare(title="advanced_labourer", min_percent=d(70))],
            cash_multiple={"district": d("0.8")},
            description="Tập thể lao động tiên tiến: ≥ 70 % of members advanced labourers "
            "(Bắc Ninh decision 86/2025 under Decree 152; 70 % is a setting). Cash 0.8 × base "
            "salary (Decree 152 arts. 50, 54)."),
        TitleRule(
            title="excellent_collective", subject_kind="unit", levels=["city"],
            requires=[Prerequisite(title="advanced_collective", level="district",
                                   same_round=True)],
            member_shares=[MemberShare(title="advanced_labourer", min_percent=d(70)),
                           MemberShare(title="grassroots_emulation_fighter", min_count=1)],
            cash_multiple={"city": d("1.5")},
            description="Tập thể lao động xuất sắc: ≥ 70 % advanced labourers and at least one "
            "grassroots emulation fighter (Bắc Ninh decision 86/2025 under Decree 152). Cash 1.5 "
            "× base salary (Decree 152 arts. 50, 54)."),
        TitleRule(
            title="emulation_flag", subject_kind="unit", levels=["district", "city"],
            min_points=d(1), quotas={"district": 1, "city": 1}, per_cluster=True,
            cash_multiple={"city": d(8)},
            description="Cờ thi đua: yearly to the collective leading its emulation cluster "
            "(Bắc Ninh decision 86/2025); one per cluster. Cash 8 × base salary for a province "
            "flag (Decree 152 arts. 50, 54)."),
        TitleRule(
            title="certificate_of_merit", subject_kind="unit", levels=["district", "city"],
            requires=[Prerequisite(title="excellent_collective", level="city",
                                   consecutive_years=2)],
            quotas={"district": 10, "city": 5},
            cash_multiple={"district": d("0.6"), "city": d(3)},
            description="Giấy khen (district, criteria of the issuer: Law art. 75) and Bằng khen "
            "(city): collectives 2 consecutive years excellent (Bắc Ninh decision 86/2025). Cash "
            "0.6 and 3 × base salary (Decree 152 arts. 50, 54)."),
    ]


def _default_ratio_caps() -> list[RatioCap]:
    return [RatioCap(
        title="grassroots_emulation_fighter", of_title="advanced_labourer", level="grassroots",
        max_percent=Decimal(15), enabled=False,
        description="Decree 91/2017 art. 9.3 capped grassroots emulation fighters at 15 % of "
        "advanced labourers; it expired on 1 Jan 2024 and neither Law 06/2022/QH15 nor Decree "
        "98/2023 sets one (DOMAIN-RULES.md). Off by default.")]


class AwardRules(RulesModel):
    titles: list[TitleRule] = Field(
        default_factory=_default_titles, description="The titles awarded in this campaign."
    )
    higher_level_requires_lower: bool = Field(
        True,
        description="A title at one level requires the same title at the level below "
        "(district requires grassroots, city requires district).",
    )
    tie_breakers: list[Literal["direct_worker", "small_collective", "points", "earliest"]] = (
        Field(
            default_factory=lambda: ["points", "direct_worker", "small_collective", "earliest"],
            description="Order of preference when a quota binds: more points, then "
            "direct-production workers, then small collectives, then earliest achievement.",
        )
    )
    small_collective_max_members: int = Field(
        30, ge=1, description="A unit with at most this many members counts as a small collective."
    )
    exclusions: list[ExclusionKind] = Field(
        default_factory=lambda: list(EXCLUSION_KINDS),
        description="Disqualifiers recorded against a member for the campaign's year that put "
        "them out of every member title (one grassroots union's guideline, DOMAIN-RULES.md).",
    )
    ratio_caps: list[RatioCap] = Field(
        default_factory=_default_ratio_caps,
        description="Caps of one title as a share of another; each off unless `enabled`.",
    )
    disclosure_days: int = Field(
        7, ge=0, le=90,
        description="Days a proposal list is published for objections before it may be "
        "approved (a setting: the law's text on the period was not verified).",
    )

    def title(self, name: str) -> TitleRule | None:
        return next((rule for rule in self.titles if rule.title == name), None)

"""The proposal round without I/O: criteria in words, quotas, ratio caps, tie-breaks, the
pyramid and same-round prerequisites."""

from __future__ import annotations

from decimal import Decimal

from contracts.events.rules import AwardRules, MemberShare, Prerequisite, RatioCap, TitleRule
from services.awards.candidates import Candidate, Initiative, Round, check
from services.awards.proposal_round import propose
from services.awards.quota_ranking import quota_of

ISSUERS = {"grassroots": "u-g1", "district": "u-d1", "city": "u-hn"}


def member(sid: str, points: int = 30, **kw) -> Candidate:
    kw.setdefault("issuers", ISSUERS)
    return Candidate("member", sid, sid, kw.pop("unit_id", "u-g1"), Decimal(points), **kw)


def rule(**kw) -> TitleRule:
    kw.setdefault("levels", ["grassroots"])
    return TitleRule(title=kw.pop("title", "good_worker"), subject_kind="member", **kw)


def test_a_percentage_quota_rounds_down_but_leaves_one_place():
    r = rule(quota_percent={"grassroots": Decimal(5)}, quotas={"grassroots": 3})
    assert quota_of(r, "grassroots", 10) == 1  # 5 % of 10 is 0.5
    assert quota_of(r, "grassroots", 40) == 2
    assert quota_of(r, "grassroots", 1000) == 3  # the fixed quota binds
    assert quota_of(r, "grassroots", 1000, cap=1) == 1
    assert quota_of(rule(), "grassroots", 1000) is None


def test_missing_criteria_are_told_in_words():
    r = rule(min_points=Decimal(20), min_initiative_level="district",
             min_recognised_benefit_vnd=80_000_000, consumes_initiatives=True)
    c = member("m-1", 12, initiatives=(Initiative("ini-1", "grassroots", 50_000_000),))
    verdict = check(r, c, 2025, Round())
    assert verdict.missing == (
        "8 points short (12 of 20)",
        "needs one initiative accepted at district level or higher, not used for another award",
        "recognised benefit 30.000.000 VND short (50.000.000 VND of 80.000.000 VND)")
    met = member("m-2", 25, initiatives=(Initiative("ini-2", "city", 90_000_000),))
    assert check(r, met, 2025, Round()).initiative_ids == ("ini-2",)


def test_consecutive_years_count_this_rounds_proposal_and_the_history():
    r = rule(title="provincial_emulation_fighter", levels=["city"], requires=[Prerequisite(
        title="grassroots_emulation_fighter", level="grassroots", consecutive_years=3)])
    history = frozenset({("grassroots_emulation_fighter", "grassroots", 2024),
                         ("grassroots_emulation_fighter", "grassroots", 2023)})
    rnd = Round()
    rnd.record("grassroots_emulation_fighter", "grassroots", "member", [member("m-1")])
    assert check(r, member("m-1", history=history), 2025, rnd).qualifies
    assert check(r, member("m-1", history=history), 2025, Round()).missing == (
        "needs grassroots_emulation_fighter at grassroots level 3 consecutive years to 2025 "
        "(0 held)",)


def test_the_pyramid_draws_each_level_from_the_one_below():
    r = rule(levels=["grassroots", "district", "city"], min_points=Decimal(1),
             quotas={"grassroots": 2, "district": 1, "city": 1})
    people = [member(f"m-{i}", 10 + i, unit_id=f"u-g{i % 2}",
                     issuers=ISSUERS | {"grassroots": f"u-g{i % 2}"}) for i in range(6)]
    placed = propose(people, AwardRules(titles=[r]), 2025)
    proposed = {lvl: [p.candidate.subject_id for p in placed
                      if p.level == lvl and p.status == "proposed"]
                for lvl in ("grassroots", "district", "city")}
    assert proposed == {"grassroots": ["m-4", "m-2", "m-5", "m-3"], "district": ["m-5"],
                        "city": ["m-5"]}


def test_an_enabled_ratio_cap_limits_a_title_by_another():
    advanced = rule(title="advanced_labourer", min_points=Decimal(1))
    fighter = rule(title="grassroots_emulation_fighter", min_points=Decimal(1))
    cap = RatioCap(title="grassroots_emulation_fighter", of_title="advanced_labourer",
                   level="grassroots", max_percent=Decimal(15), enabled=True)
    people = [member(f"m-{i:02}", 10 + i) for i in range(20)]
    capped = propose(people, AwardRules(titles=[advanced, fighter], ratio_caps=[cap]), 2025)
    assert sum(1 for p in capped if p.title == fighter.title and p.status == "proposed") == 3
    off = propose(people, AwardRules(titles=[advanced, fighter]), 2025)  # the default: off
    assert sum(1 for p in off if p.title == fighter.title and p.status == "proposed") == 20


def test_a_collective_needs_its_share_of_members_proposed():
    advanced = rule(title="advanced_labourer", min_points=Decimal(1))
    collective = TitleRule(title="advanced_collective", subject_kind="unit",
                           levels=["district"], member_shares=[MemberShare(
                               title="advanced_labourer", min_percent=Decimal(70))])
    unit = Candidate("unit", "u-g1", "CĐ", "u-g1", Decimal(5), unit_members=4, issuers=ISSUERS)
    three = [member(f"m-{i}") for i in range(3)] + [member("m-3", 0)]
    placed = propose([unit, *three], AwardRules(titles=[advanced, collective]), 2025)
    assert [p.status for p in placed if p.title == "advanced_collective"] == ["proposed"]
    two = [member(f"m-{i}") for i in range(2)] + [member("m-2", 0), member("m-3", 0)]
    placed = propose([unit, *two], AwardRules(titles=[advanced, collective]), 2025)
    assert [p for p in placed if p.title == "advanced_collective"] == []


def test_the_default_rule_set_cites_its_sources_and_keeps_the_old_cap_off():
    rules = AwardRules()
    assert all(r.description for r in rules.titles)
    assert "art. 23" in rules.title("grassroots_emulation_fighter").description
    assert "1564/QĐ-TLĐ" in rules.title("creative_labour").description
    assert [c.enabled for c in rules.ratio_caps] == [False]
    assert "expired on 1 Jan 2024" in rules.ratio_caps[0].description

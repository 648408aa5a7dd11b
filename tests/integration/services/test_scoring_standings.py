"""Standings, fairness bases, what-if and initiative totals on the real database, over the
demo tree (Công đoàn Trường THCS Láng Thượng, 62 members, Đống Đa; Công đoàn Bệnh viện E,
1,450 members, Cầu Giấy) as scoring's own directory projection holds it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from contracts import CloudEvent, new_event
from contracts.events.campaigns import CampaignLaunched, Phase
from contracts.events.initiatives import InitiativeAuthor, InitiativeReviewed, InitiativeSubmitted
from contracts.events.participation import (
    PledgeResultReported,
    PledgeSigned,
    PledgeTarget,
    TargetResult,
)
from contracts.events.rules import ScoringRules
from services.devstack.demo_directory import (
    CAUGIAY,
    DONGDA,
    HOSPITAL,
    SCHOOL,
    demo_directory,
    org_events,
)
from services.runtime.directory import directory_handlers
from services.scoring import queries
from services.scoring.handlers import handlers
from services.scoring.repository import ScoringRepository
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

SCORING = ServiceUnderTest(
    "scoring", handlers.including(directory_handlers), ScoringRepository,
    Path(__file__).parents[3] / "services" / "scoring" / "migrations",
)
CAMPAIGN, PHASE = "cmp-2025-hn", "cmp-2025-hn-p1"
AT = datetime(2025, 5, 20, tzinfo=UTC)
TEACHER, NURSE = "m-lt-0007", "m-bve-0031"


@pytest.fixture(scope="module")
async def scoring(database_url):
    async with open_harness(database_url, SCORING) as harness:
        await harness.apply(*org_events(demo_directory()))
        yield harness


@pytest.fixture(autouse=True)
async def empty_scores(scoring):
    await scoring.pool.execute(
        """TRUNCATE facts, scores, ledger_changes, initiatives, initiative_reviews,
                    campaign_rules, phases, phase_counts, late_events, outbox""")


def ev(data) -> CloudEvent:
    return new_event(data, source="/thidua/registration", district=None)


def initiative(n: int, unit_id: str, author: str, level: str, grade: str,
               benefit: int = 0) -> list[CloudEvent]:
    ini = f"ini-{unit_id}-{n}"
    return [
        ev(InitiativeSubmitted(
            initiative_id=ini, campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=unit_id,
            title=f"Sáng kiến {n}", field="giáo dục", claimed_benefit_vnd=benefit,
            authors=[InitiativeAuthor(member_id=author, full_name="Tác giả",
                                      direct_worker=False)], submitted_at=AT)),
        ev(InitiativeReviewed(
            initiative_id=ini, campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=unit_id,
            outcome="accepted", level=level, grade=grade, recognised_benefit_vnd=benefit,
            council_unit_id="u-hanoi", reviewed_at=datetime(2025, 6, 10, tzinfo=UTC))),
    ]


def launch(rules: ScoringRules) -> CloudEvent:
    return ev(CampaignLaunched(
        campaign_id=CAMPAIGN, organizer_unit_id="u-hanoi", year=2025,
        theme="Lao động giỏi, lao động sáng tạo",
        phases=[Phase(phase_id=PHASE, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 6, 30))],
        scoring=rules, launched_at=datetime(2025, 1, 2, tzinfo=UTC)))


async def worked_example(scoring) -> None:
    """The README's example. The school: one initiative accepted at city level, grade A
    (40 + 2 for submitting = 42 points, 62 members). The hospital: six accepted at district
    level, grade B (6 * (14 + 2) = 96 points, 1,450 members)."""
    events = [launch(ScoringRules()),
              *initiative(1, SCHOOL, TEACHER, "city", "A", benefit=35_000_000)]
    for n in range(6):
        events += initiative(n, HOSPITAL, NURSE, "district", "B", benefit=120_000_000)
    await scoring.apply(*events)


def ranked(rows) -> list[tuple]:
    return [(r["rank"], r["subject_id"], r["total_points"], r["ranking_points"]) for r in rows]


async def test_per_100_members_puts_the_small_school_above_the_large_hospital(scoring):
    await worked_example(scoring)
    rows = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE, ScoringRules(), "unit",
                                        "city", None, 0, 10)
    assert ranked(rows) == [(1, SCHOOL, 42, Decimal("67.7419")),
                            (2, HOSPITAL, 96, Decimal("6.6207"))]
    assert [(r["member_count"], r["accepted_initiatives"]) for r in rows] == [(62, 1), (1450, 6)]


async def test_shrinkage_keeps_one_initiative_in_a_tiny_unit_from_topping_the_city(scoring):
    await worked_example(scoring)
    rules = ScoringRules(unit_score_basis="shrunk_per_100_members", shrinkage_members=100)
    # mean = (42 + 96) / (62 + 1450) = 0.0912698... points per member
    # school:   100 * (42 + 100 * mean) / (62 + 100)   = 31.5599
    # hospital: 100 * (96 + 100 * mean) / (1450 + 100) = 6.7824
    rows = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE, rules, "unit", "city",
                                        None, 0, 10)
    assert ranked(rows) == [(1, SCHOOL, 42, Decimal("31.5599")),
                            (2, HOSPITAL, 96, Decimal("6.7824"))]


async def test_district_standings_place_units_as_the_tree_stood_during_the_phase(scoring):
    await worked_example(scoring)
    # On 30/6/2025 the school was still under Đống Đa (districts were dissolved on 1/7).
    rows = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE, ScoringRules(), "unit",
                                        "district", DONGDA, 0, 10)
    assert [(r["subject_id"], r["district_id"]) for r in rows] == [(SCHOOL, DONGDA)]
    rows = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE, ScoringRules(), "member",
                                        "district", CAUGIAY, 0, 10)
    assert [(r["rank"], r["subject_id"], r["total_points"]) for r in rows] == [(1, NURSE, 96)]


async def test_pages_follow_the_position_cursor_and_ties_share_a_rank(scoring):
    await worked_example(scoring)
    rules = ScoringRules(unit_score_basis="total")
    await scoring.apply(*initiative(9, "u-other", "m-x", "grassroots", "A"),
                        *initiative(8, "u-other", "m-x", "city", "A"))  # 12 + 42 + ... = 54
    await scoring.apply(*initiative(7, "u-third", "m-y", "city", "A"))  # 42, ties the school
    first = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE, rules, "unit", "city",
                                         None, 0, 2)
    rest = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE, rules, "unit", "city",
                                        None, first[-1]["position"], 10)
    assert ranked(first + rest) == [
        (1, HOSPITAL, 96, 96), (2, "u-other", 54, 54), (3, SCHOOL, 42, 42),
        (3, "u-third", 42, 42)]


async def test_what_if_diffs_against_live_without_touching_live_data(scoring):
    await worked_example(scoring)
    before = await scoring.pool.fetch("SELECT * FROM scores ORDER BY subject_id")
    entries = await scoring.pool.fetchval("SELECT count(*) FROM score_entries")
    proposed = ScoringRules(unit_score_basis="total")
    standings, moves = await queries.what_if(scoring.pool, CAMPAIGN, PHASE, ScoringRules(),
                                             proposed, "unit", "city", None)
    assert ranked(standings) == [(1, HOSPITAL, 96, 96), (2, SCHOOL, 42, 42)]
    assert [(m.subject_id, m.live_rank, m.what_if_rank, m.live_ranking_points,
             m.what_if_ranking_points) for m in moves] == [
        (HOSPITAL, 2, 1, Decimal("6.6207"), 96), (SCHOOL, 1, 2, Decimal("67.7419"), 42)]
    # A rule set pricing only city-level acceptances, twice as high: the school's A becomes 80
    # (82 points, 132.2581 per 100); the hospital's district Bs earn nothing (12 points left
    # for submitting, 0.8276 per 100). Ranks hold, ranking points move.
    city_only = ScoringRules(initiative_points={
        "city": {"A": Decimal(80), "B": Decimal(56), "C": Decimal(40)}})
    standings, moves = await queries.what_if(scoring.pool, CAMPAIGN, PHASE, ScoringRules(),
                                             city_only, "unit", "city", None)
    assert [(m.subject_id, m.live_rank, m.what_if_rank, m.what_if_ranking_points)
            for m in moves] == [(SCHOOL, 1, 1, Decimal("132.2581")),
                                (HOSPITAL, 2, 2, Decimal("0.8276"))]
    assert ranked(standings) == [(1, SCHOOL, 82, Decimal("132.2581")),
                                 (2, HOSPITAL, 12, Decimal("0.8276"))]
    assert await scoring.pool.fetch("SELECT * FROM scores ORDER BY subject_id") == before
    assert await scoring.pool.fetchval("SELECT count(*) FROM score_entries") == entries
    # the live rules tried as they are: nobody moves
    _, moves = await queries.what_if(scoring.pool, CAMPAIGN, PHASE, ScoringRules(),
                                     ScoringRules(), "member", "city", None)
    assert moves == []


async def test_beat_pledge_ranks_units_that_met_every_target_first_by_initiatives(scoring):
    await worked_example(scoring)
    pledge = [ev(PledgeSigned(
        pledge_id=f"pl-{u}", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=u,
        signed_on=date(2025, 1, 10),
        targets=[PledgeTarget(target_id="t1", description="Sáng kiến được công nhận",
                              target_value=Decimal(n), unit_of_measure="sáng kiến")]))
        for u, n in ((SCHOOL, 1), (HOSPITAL, 8))]
    results = [ev(PledgeResultReported(
        pledge_id=f"pl-{u}", campaign_id=CAMPAIGN, phase_id=PHASE, unit_id=u, reported_at=AT,
        results=[TargetResult(target_id="t1", achieved_value=Decimal(a), met=a >= n)]))
        for u, n, a in ((SCHOOL, 1, 1), (HOSPITAL, 8, 6))]
    await scoring.apply(*pledge)
    await scoring.apply(*results)
    rows = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE,
                                        ScoringRules(unit_score_basis="beat_pledge"), "unit",
                                        "city", None, 0, 10)
    assert [(r["rank"], r["subject_id"], r["beat_pledge"], r["ranking_points"])
            for r in rows] == [(1, SCHOOL, True, 1), (2, HOSPITAL, False, 6)]


async def test_initiative_totals_per_unit_district_campaign_and_year(scoring):
    await worked_example(scoring)
    per_unit = await queries.initiative_totals(scoring.pool, "unit", None, None, None, "", 10)
    assert [(r["key"], r["submitted"], r["accepted"], r["recognised_benefit_vnd"])
            for r in per_unit] == [(HOSPITAL, 6, 6, 720_000_000), (SCHOOL, 1, 1, 35_000_000)]
    [year] = await queries.initiative_totals(scoring.pool, "year", None, 2025, None, "", 10)
    assert (year["key"], year["submitted"], year["recognised_benefit_vnd"]) == (
        "2025", 7, 755_000_000)
    mine = await queries.initiative_totals(scoring.pool, "campaign", None, None, [SCHOOL], "",
                                           10)
    assert [(r["key"], r["submitted"]) for r in mine] == [(CAMPAIGN, 1)]


async def test_a_member_ranks_in_the_unit_they_belonged_to_on_the_phases_last_day(scoring):
    """Of a member's dated states the standings take the one holding on the phase's last day,
    not the latest: this author moved from the hospital (Cầu Giấy) to the school (Đống Đa) a
    month after the phase ended, and an earlier state before that does not count either."""
    moved = "m-moved-0001"
    await scoring.pool.execute(
        """INSERT INTO directory_members (member_id, effective_from, valid, unit_id, full_name,
                                          gender, direct_worker, union_officer, job_title,
                                          status, recorded_at)
           SELECT $1, lower(v), v, u, 'Nguyễn Thị Chuyển', 'female', false, false, NULL,
                  'active', now()
           FROM unnest($2::text[]::daterange[], $3::text[]) AS s(v, u)""",
        moved,
        ["[2019-01-01,2024-01-01)", "[2024-01-01,2025-08-01)", "[2025-08-01,)"],
        [SCHOOL, HOSPITAL, SCHOOL],
    )
    await scoring.apply(launch(ScoringRules()), *initiative(1, SCHOOL, moved, "city", "A"))
    in_caugiay = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE, ScoringRules(),
                                              "member", "district", CAUGIAY, 0, 10)
    assert [(r["subject_id"], r["unit_id"], r["district_id"]) for r in in_caugiay] == [
        (moved, HOSPITAL, CAUGIAY)]
    in_dongda = await queries.standings_page(scoring.pool, CAMPAIGN, PHASE, ScoringRules(),
                                             "member", "district", DONGDA, 0, 10)
    assert moved not in [r["subject_id"] for r in in_dongda]

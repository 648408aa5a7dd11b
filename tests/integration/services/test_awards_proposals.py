"""Awards' proposal round through the real consumer and PostgreSQL: the phase barrier, quotas
at every level, tie-breaks, prerequisites over imported history, exclusions, one initiative
per award.

The tree: city federation u-hn, two district federations u-d1 and u-d2, grassroots unions under
them, members under those; all from 2020. Score changes make standings; the phase-wide
`standings_finalized` with `score_changed_count` starts the round.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY

from contracts import CloudEvent, new_event
from contracts.events.campaigns import CampaignLaunched, Phase
from contracts.events.initiatives import InitiativeAuthor, InitiativeReviewed
from contracts.events.rules import AwardRules, Prerequisite, TitleRule
from contracts.events.scores import PhaseStandingsFinalized, ScoreChanged
from services.awards import history_import
from services.awards.handlers import handlers
from services.awards.repository import AwardsRepository
from services.runtime.directory.handlers import directory_handlers
from tests.support.events import cluster_formed, initiative_submitted, member_state, unit_state
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

AWARDS = ServiceUnderTest(
    "awards", handlers.including(directory_handlers), AwardsRepository,
    Path(__file__).parents[3] / "services" / "awards" / "migrations",
)
CAMPAIGN, PHASE = "cmp-2025-hn", "cmp-2025-hn-p1"
FROM = date(2020, 1, 1)
NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def awards(database_url):
    async with open_harness(database_url, AWARDS) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(awards):
    await awards.reset()


def campaign(rules: AwardRules) -> CloudEvent:
    data = CampaignLaunched(
        campaign_id=CAMPAIGN, organizer_unit_id="u-hn", year=2025, theme="Lao động giỏi",
        phases=[Phase(phase_id=PHASE, name="Đợt 1", starts_on=date(2025, 1, 1),
                      ends_on=date(2025, 6, 30))],
        awards=rules, launched_at=NOW)
    return new_event(data, source="/thidua/registration", district=None)


async def tree(awards, units: dict[str, tuple[str, int]],
               members: dict[str, tuple[str, bool]]) -> None:
    """`units`: grassroots unit → (district, member count); `members`: id → (unit, direct)."""
    events = [unit_state("u-hn", None, FROM, kind="city_federation"),
              unit_state("u-d1", "u-hn", FROM, kind="district_federation", district_id="u-d1"),
              unit_state("u-d2", "u-hn", FROM, kind="district_federation", district_id="u-d2")]
    events += [unit_state(u, d, FROM, district_id=d, member_count=n)
               for u, (d, n) in units.items()]
    events += [member_state(m, u, FROM, full_name=f"Thành viên {m}", direct_worker=direct)
               for m, (u, direct) in members.items()]
    await awards.apply(*events)


def score(subject_id: str, total: int | str, unit_id: str, kind: str = "member",
          reason: str = "pledge_target_met") -> CloudEvent:
    data = ScoreChanged(
        unit_id=unit_id, campaign_id=CAMPAIGN, phase_id=PHASE, subject_kind=kind,
        subject_id=subject_id, points_delta=Decimal(total), total_points=Decimal(total),
        reason=reason, source_event_id=f"src-{uuid.uuid4().hex[:8]}", subject_version=1)
    return new_event(data, source="/thidua/scoring", district=None)


def finalized(count: int) -> CloudEvent:
    data = PhaseStandingsFinalized(
        unit_id="u-hn", campaign_id=CAMPAIGN, phase_id=PHASE, scope_kind="phase",
        scope_id=PHASE, entries=[], finalized_at=NOW, score_changed_count=count)
    return new_event(data, source="/thidua/scoring", district=None)


async def proposed(awards, title: str | None = None) -> list[tuple[str, str, str, int]]:
    """(subject, level, issuer, rank) of each award.proposed, in order."""
    return [(e.data.subject_id, e.data.level, e.data.issuer_unit_id, e.data.quota_rank)
            for e in await awards.emitted("thidua.award.proposed.v1")
            if title is None or e.data.title == title]


async def placements(awards, title: str) -> dict[tuple[str, str], dict]:
    rows = await awards.pool.fetch(
        """SELECT subject_id, level, status, rank, quota, proposal_standing(p) AS standing,
                  tie_break, candidate_count
           FROM proposals p WHERE title = $1""", title)
    return {(r["subject_id"], r["level"]): dict(r) for r in rows}


def rounds_written(kind: str) -> float:
    return REGISTRY.get_sample_value("thidua_awards_round_rows_total", {"kind": kind}) or 0.0


def only(*titles: TitleRule, **settings) -> AwardRules:
    return AwardRules(titles=list(titles), **settings)


GOOD_WORKER = TitleRule(
    title="good_worker", subject_kind="member", levels=["grassroots", "district", "city"],
    min_points=Decimal(20), quotas={"grassroots": 3, "district": 2, "city": 1})


async def test_the_round_waits_until_every_score_change_of_the_phase_is_applied(awards):
    await tree(awards, {"u-g1": ("u-d1", 40)}, {f"m-{i}": ("u-g1", True) for i in range(3)})
    await awards.apply(campaign(only(GOOD_WORKER)))
    await awards.apply(score("m-0", 30, "u-g1"), score("m-1", 25, "u-g1"))
    await awards.apply(finalized(3))  # the third change is still on its way
    assert await proposed(awards) == []
    announced_before = rounds_written("announced")
    await awards.apply(score("m-2", 21, "u-g1"))
    assert rounds_written("announced") - announced_before == 6  # what ops see at /metrics
    assert [p[:2] for p in await proposed(awards)] == [
        ("m-0", "grassroots"), ("m-1", "grassroots"), ("m-2", "grassroots"),
        ("m-0", "district"), ("m-1", "district"), ("m-0", "city")]
    before = await awards.emitted()
    first = next(e for e in before if e.type == "thidua.award.proposed.v1")
    assert (first.district, first.source, first.subject) == ("u-d1", "/thidua/awards", "m-0")
    assert (first.data.quota, first.data.quota_rank, first.data.candidate_count) == (3, 1, 3)
    assert first.data.disclosure_ends_at - first.data.proposed_at == timedelta(days=7)
    await awards.apply(finalized(3))  # redelivered under another id, or repeated
    await awards.apply(score("m-0", 40, "u-g1"))  # a late change after the round
    assert await awards.emitted("thidua.award.proposed.v1") == [
        e for e in before if e.type == "thidua.award.proposed.v1"]


async def test_a_round_that_meets_a_stored_proposal_id_stores_and_announces_nothing(awards):
    """The round's claim keeps a round from running twice; should a proposal id exist all the
    same, the round fails whole (the batch retries, then dead-letters): no placement of it is
    stored, none announced, and the phase is not marked proposed."""
    await tree(awards, {"u-g1": ("u-d1", 40)}, {f"m-{i}": ("u-g1", True) for i in range(3)})
    await awards.apply(campaign(only(GOOD_WORKER)))
    await awards.apply(*[score(f"m-{i}", 30 - i, "u-g1") for i in range(3)])
    await awards.pool.execute(  # the id the round derives for m-1's good worker at district
        """INSERT INTO proposals (proposal_id, campaign_id, phase_id, year, title, level,
               subject_kind, subject_id, subject_name, unit_id, issuer_unit_id, points,
               candidate_count, standing, direct_worker, status, proposed_at,
               disclosure_ends_at)
           VALUES ('prop-' || translate(encode(decode(md5(concat_ws(
                       chr(31), $1::text, $2::text, 'good_worker', 'district', 'member',
                       'm-1')), 'hex'), 'base64'), '+/=', '-_'),
                   $1, $2, 2025, 'good_worker', 'district', 'member', 'm-1', 'Thành viên m-1',
                   'u-g1', 'u-d1', 29, 1, 'stored before', true, 'proposed', $3, $3)""",
        CAMPAIGN, PHASE, NOW)
    with pytest.raises(asyncpg.UniqueViolationError):
        await awards.apply(finalized(3))
    assert await awards.emitted("thidua.award.proposed.v1") == []
    assert await awards.pool.fetchval("SELECT count(*) FROM proposals") == 1
    # A row's stored words stand (rows stored before the round stopped storing them).
    assert await awards.pool.fetchval(
        "SELECT proposal_standing(p) FROM proposals p") == "stored before"
    assert await awards.pool.fetchval(
        "SELECT proposed_at FROM phase_progress WHERE phase_id = $1", PHASE) is None


async def test_the_pyramid_holds_at_every_level(awards):
    units = {f"u-g{d}{g}": (f"u-d{d}", 40) for d in (1, 2) for g in (1, 2)}
    members = {f"m-{u}-{i}": (u, True) for u in units for i in range(5)}
    await tree(awards, units, members)
    await awards.apply(campaign(only(GOOD_WORKER)))
    changes = [score(m, 20 + i, u) for i, (m, (u, _)) in enumerate(members.items())]
    await awards.apply(*changes, finalized(len(changes)))
    got = await proposed(awards)
    by_level = {lvl: [p for p in got if p[1] == lvl] for lvl in ("grassroots", "district", "city")}
    assert [len(by_level[lvl]) for lvl in by_level] == [12, 4, 1]
    for lower, upper in (("grassroots", "district"), ("district", "city")):
        assert {p[0] for p in by_level[upper]} <= {p[0] for p in by_level[lower]}
    for issuer in {p[2] for p in got}:
        level = next(p[1] for p in got if p[2] == issuer)
        assert sum(1 for p in got if p[2] == issuer) <= GOOD_WORKER.quotas[level]
    # Each candidate is told where they stand, inside the quota or beyond it.
    placed = await placements(awards, "good_worker")
    assert placed[("m-u-g11-0", "grassroots")]["status"] == "beyond_quota"
    assert placed[("m-u-g11-0", "grassroots")]["standing"] == (
        "rank 5 of 5 for 3 place(s) at u-g11: 2 place(s) beyond the quota")
    assert placed[("m-u-g22-4", "city")]["status"] == "proposed"


async def test_a_percentage_quota_counts_the_eligible_at_each_issuer(awards):
    rule = GOOD_WORKER.model_copy(update={"quotas": {}, "quota_percent": {"grassroots": Decimal(25)}})
    members = {f"m-{i}": ("u-g1", True) for i in range(10)}
    await tree(awards, {"u-g1": ("u-d1", 40)}, members)
    await awards.apply(campaign(only(rule)))
    changes = [score(m, 20 + i, "u-g1") for i, m in enumerate(members)]
    await awards.apply(*changes, finalized(len(changes)))
    assert len([p for p in await proposed(awards) if p[1] == "grassroots"]) == 2  # ⌊25 % * 10⌋


async def test_the_tie_break_favours_direct_workers_then_small_collectives(awards):
    rule = GOOD_WORKER.model_copy(update={"levels": ["district"], "quotas": {"district": 2}})
    await tree(awards, {"u-small": ("u-d1", 12), "u-large": ("u-d1", 400)},
               {"m-office": ("u-small", False), "m-large": ("u-large", True),
                "m-small": ("u-small", True)})
    await awards.apply(campaign(only(rule)))
    changes = [score(m, 30, u) for m, u in
               (("m-office", "u-small"), ("m-large", "u-large"), ("m-small", "u-small"))]
    await awards.apply(*changes, finalized(3))
    assert await proposed(awards) == [("m-small", "district", "u-d1", 1),
                                      ("m-large", "district", "u-d1", 2)]
    placed = await placements(awards, "good_worker")
    assert placed[("m-small", "district")]["tie_break"] == "small_collective"
    assert (placed[("m-office", "district")]["status"],
            placed[("m-office", "district")]["tie_break"]) == ("beyond_quota", "direct_worker")


async def test_the_emulation_flag_goes_to_the_leader_of_each_cluster_per_member(awards):
    flag = TitleRule(title="emulation_flag", subject_kind="unit", levels=["district"],
                     min_points=Decimal(1), quotas={"district": 1}, per_cluster=True)
    units = {"u-a": ("u-d1", 20), "u-b": ("u-d1", 200), "u-c": ("u-d1", 50)}
    await tree(awards, units, {})
    await awards.apply(cluster_formed("cl-1", "u-a", ["u-a", "u-b"], 2025),
                       cluster_formed("cl-2", "u-c", ["u-c"], 2025))
    await awards.apply(campaign(only(flag)))
    # per 100 members: u-a 10 * 100 / 20 = 50; u-b 100 * 100 / 200 = 50; small u-a wins.
    changes = [score("u-a", 10, "u-a", "unit"), score("u-b", 100, "u-b", "unit"),
               score("u-c", 5, "u-c", "unit")]
    await awards.apply(*changes, finalized(3))
    assert sorted(await proposed(awards)) == [("u-a", "district", "u-d1", 1),
                                              ("u-c", "district", "u-d1", 1)]


async def test_consecutive_year_prerequisites_are_checked_on_imported_history(awards):
    fighter = TitleRule(title="grassroots_emulation_fighter", subject_kind="member",
                        levels=["grassroots"], min_points=Decimal(10))
    provincial = TitleRule(
        title="provincial_emulation_fighter", subject_kind="member", levels=["city"],
        requires=[Prerequisite(title="grassroots_emulation_fighter", level="grassroots",
                               consecutive_years=3)])
    members = {"m-three": ("u-g1", True), "m-gap": ("u-g1", True), "m-none": ("u-g1", True)}
    await tree(awards, {"u-g1": ("u-d1", 40)}, members)
    imported = history_import.parse_csv(
        "subject_kind,subject_id,title,level,year,decision_number,issuer_name,unit_id\n"
        "member,m-three,grassroots_emulation_fighter,grassroots,2024,12/QĐ-CĐ,CĐ u-g1,u-g1\n"
        "member,m-three,grassroots_emulation_fighter,grassroots,2023,9/QĐ-CĐ,CĐ u-g1,u-g1\n"
        "member,m-gap,grassroots_emulation_fighter,grassroots,2024,12/QĐ-CĐ,CĐ u-g1,u-g1\n"
        "member,m-gap,grassroots_emulation_fighter,grassroots,2022,7/QĐ-CĐ,CĐ u-g1,u-g1\n")
    assert imported.errors == []
    async with awards.pool.acquire() as conn:
        assert await history_import.store(conn, imported.rows) == 4
    await awards.apply(campaign(only(fighter, provincial)))
    changes = [score(m, 15, "u-g1") for m in members]
    await awards.apply(*changes, finalized(3))
    assert [p[0] for p in await proposed(awards, "provincial_emulation_fighter")] == ["m-three"]
    assert {p[0] for p in await proposed(awards, "grassroots_emulation_fighter")} == set(members)


async def test_an_excluded_member_is_out_with_the_recorded_reason(awards):
    await tree(awards, {"u-g1": ("u-d1", 40)}, {"m-1": ("u-g1", True), "m-2": ("u-g1", True)})
    await awards.pool.execute(
        """INSERT INTO exclusions (member_id, year, kind, source, unit_id, recorded_by,
                                   recorded_at)
           VALUES ('m-1', 2025, 'absent_40_days', 'chấm công 2025 của CĐ u-g1', 'u-g1', '{}',
                   now())""")
    await awards.apply(campaign(only(GOOD_WORKER)))
    await awards.apply(score("m-1", 50, "u-g1"), score("m-2", 25, "u-g1"), finalized(2))
    assert [p[0] for p in await proposed(awards) if p[1] == "grassroots"] == ["m-2"]
    placed = await placements(awards, "good_worker")
    assert (placed[("m-1", "grassroots")]["status"], placed[("m-1", "grassroots")]["standing"]) \
        == ("excluded", "excluded: absent_40_days (source: chấm công 2025 của CĐ u-g1)")


async def test_a_title_resting_on_an_initiative_names_it_and_skips_consumed_ones(awards):
    fighter = TitleRule(title="grassroots_emulation_fighter", subject_kind="member",
                        levels=["grassroots"], min_initiative_level="grassroots",
                        consumes_initiatives=True)
    await tree(awards, {"u-g1": ("u-d1", 40)}, {"m-1": ("u-g1", True), "m-2": ("u-g1", True)})
    await awards.apply(campaign(only(fighter)))
    submitted = [initiative_submitted(CAMPAIGN, "u-g1", authors=[InitiativeAuthor(
        member_id=m, full_name=f"Thành viên {m}", direct_worker=True)]) for m in ("m-1", "m-2")]
    await awards.apply(*submitted)
    await awards.apply(*[new_event(InitiativeReviewed(
        initiative_id=s.data.initiative_id, campaign_id=CAMPAIGN, phase_id=s.data.phase_id,
        unit_id="u-g1", outcome="accepted", level="district", grade="A",
        recognised_benefit_vnd=90_000_000, council_unit_id="u-d1", reviewed_at=NOW),
        source="/thidua/registration", district=None) for s in submitted])
    # m-2's initiative already earned another award.
    await awards.pool.execute(
        """INSERT INTO decisions VALUES ('dec-0', '1/QĐ-X', 'u-d1', 'LĐLĐ', NULL, 2025,
                                         '2025-05-01', 'x', 1, 0, '{}', now());
           INSERT INTO awards_granted VALUES ('aw-0', 'dec-0', NULL, 'c-old', NULL, 2025,
               'creative_labour', 'district', 'member', 'm-2', 'x', 'u-g1', NULL, NULL, 0,
               now());""")
    await awards.pool.execute("INSERT INTO consumed_initiatives VALUES ($1, 'aw-0', "
                              "'creative_labour', 'district')", submitted[1].data.initiative_id)
    await awards.apply(score("m-1", 15, "u-g1"), score("m-2", 15, "u-g1"), finalized(2))
    [event] = await awards.emitted("thidua.award.proposed.v1")
    assert event.data.subject_id == "m-1"
    stored = await awards.pool.fetchval(
        "SELECT initiative_ids FROM proposals WHERE subject_id = 'm-1'")
    assert stored == [submitted[0].data.initiative_id]


async def test_provisional_eligibility_follows_the_campaigns_own_rule_set(awards):
    strict = GOOD_WORKER.model_copy(update={"min_points": Decimal(50)})
    await awards.apply(campaign(only(strict)))
    await awards.apply(score("m-1", 30, "u-g1"))
    [verdict] = await awards.emitted("thidua.award.eligibility_changed.v1")
    assert (verdict.data.title, verdict.data.eligible, verdict.data.reason) == (
        "good_worker", False, "min_points_not_reached")


async def test_two_phases_finalized_in_one_batch_each_get_their_own_round(awards):
    """Both rounds run in the batch's one transaction: the second starts from empty working
    tables, so it neither repeats nor loses the first's placements."""
    await tree(awards, {"u-g1": ("u-d1", 40)}, {f"m-{i}": ("u-g1", True) for i in range(4)})
    await awards.apply(campaign(only(GOOD_WORKER)))
    second = f"{PHASE}-b"

    def in_second(event: CloudEvent) -> CloudEvent:
        data = event.data.model_copy(update={"phase_id": second, "scope_id": second}
                                     if event.type.endswith("standings_finalized.v1")
                                     else {"phase_id": second})
        return new_event(data, source=event.source, district=None)

    first_scores = [score(f"m-{i}", 20 + i, "u-g1") for i in range(4)]
    second_scores = [in_second(score(f"m-{i}", 30 - i, "u-g1")) for i in range(2)]
    await awards.apply(*first_scores, *second_scores)
    await awards.apply(finalized(4), in_second(finalized(2)))
    rows = await awards.pool.fetch(
        """SELECT phase_id, level, subject_id, rank FROM proposals WHERE status = 'proposed'
           ORDER BY phase_id, level, rank""")
    by_phase = {}
    for r in rows:
        by_phase.setdefault(r["phase_id"], []).append((r["level"], r["subject_id"], r["rank"]))
    assert by_phase[PHASE] == [
        ("city", "m-3", 1), ("district", "m-3", 1), ("district", "m-2", 2),
        ("grassroots", "m-3", 1), ("grassroots", "m-2", 2), ("grassroots", "m-1", 3)]
    assert by_phase[second] == [("city", "m-0", 1), ("district", "m-0", 1),
                                ("district", "m-1", 2), ("grassroots", "m-0", 1),
                                ("grassroots", "m-1", 2)]

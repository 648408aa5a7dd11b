"""The round placed by PostgreSQL (`round_placement`) is the pure reference round
(`proposal_round.propose`) on random inputs: random directory trees, standings with ties,
initiatives (some consumed), exclusions, title history, clusters and random rule sets — every
placement alike, field by field (status, rank, quota, count, tie-break, standing, the
initiatives it rests on).

Each example is written into a real awards schema inside a transaction, placed both ways, and
rolled back.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from contracts import decode_event
from contracts.events.common import LEVELS
from contracts.events.rules import (
    EXCLUSION_KINDS,
    AwardRules,
    MemberShare,
    Prerequisite,
    RatioCap,
    TitleRule,
)
from services.awards import round_repository as rounds
from services.awards.handlers import handlers
from services.awards.proposal_round import propose
from services.awards.repository import AwardsRepository
from services.awards.round_placement import place
from services.awards.round_records import RoundStamp
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

AWARDS = ServiceUnderTest("awards", handlers, AwardsRepository,
                          Path(__file__).parents[3] / "services" / "awards" / "migrations")
CAMPAIGN, PHASE, YEAR, ON = "c-prop", "c-prop-p1", 2025, date(2025, 6, 2)
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
MEMBER_TITLES = ["advanced_labourer", "grassroots_emulation_fighter", "good_worker",
                 "creative_labour", "provincial_emulation_fighter"]
UNIT_TITLES = ["advanced_collective", "excellent_collective", "emulation_flag"]
# Upper units: a city federation over two district federations and a sector union; grassroots
# unions under each, and one under no district (placed at grassroots and city only).
UPPER = [("u-hn", None, "city_federation"), ("u-d1", "u-hn", "district_federation"),
         ("u-d2", "u-hn", "district_federation"), ("u-sx", "u-hn", "sector_union")]
GRASSROOTS = {"g-1": "u-d1", "g-2": "u-d1", "g-3": "u-d2", "g-4": "u-sx", "g-5": "u-hn"}
POINTS = [Decimal(v) for v in ("0", "2", "5", "10", "20", "20", "20.5", "30")]
TIMES = [datetime(2025, 6, 1, h, tzinfo=UTC) for h in (8, 9, 10)]


@pytest.fixture(scope="module")
async def schema(database_url):
    async with open_harness(database_url, AWARDS) as harness:
        yield harness.pool, await harness.pool.fetchval("SELECT current_schema()")


def title_rules(kind: str, names: list[str]) -> st.SearchStrategy[list[TitleRule]]:
    @st.composite
    def build(draw) -> list[TitleRule]:
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names),
                               unique=True))
        out: list[TitleRule] = []
        for name in chosen:
            levels = sorted(draw(st.sets(st.sampled_from(LEVELS[:3]), min_size=1)),
                            key=LEVELS.index)
            requires = []
            if out and draw(st.integers(0, 2)) == 0:
                before = draw(st.sampled_from(out))
                requires.append(Prerequisite(
                    title=before.title, level=draw(st.sampled_from(before.levels)),
                    consecutive_years=draw(st.integers(1, 3)), same_round=draw(st.booleans())))
            shares = []
            if kind == "unit" and draw(st.booleans()):
                shares.append(MemberShare(
                    title=draw(st.sampled_from(MEMBER_TITLES)),
                    min_percent=draw(st.sampled_from([Decimal(0), Decimal(50), Decimal(70)])),
                    min_count=draw(st.integers(0, 2))))
            out.append(TitleRule(
                title=name, subject_kind=kind, levels=levels,
                min_points=draw(st.sampled_from([Decimal(0), Decimal(2), Decimal(2),
                                                 Decimal("20.5"), Decimal(20)])),
                min_accepted_initiatives=(draw(st.integers(0, 3)) == 0) if kind == "member"
                else 0,
                min_initiative_level=(draw(st.sampled_from([None, None, None, "grassroots",
                                                            "district"]))
                                      if kind == "member" else None),
                min_recognised_benefit_vnd=(draw(st.sampled_from([0, 0, 0, 80_000_000]))
                                            if kind == "member" else 0),
                consumes_initiatives=draw(st.booleans()),
                women_only=kind == "member" and draw(st.integers(0, 3)) == 0,
                officers_only=kind == "member" and draw(st.integers(0, 5)) == 0,
                direct_workers_only=kind == "member" and draw(st.integers(0, 3)) == 0,
                requires=requires, member_shares=shares,
                quotas={lv: draw(st.integers(1, 3)) for lv in levels if draw(st.booleans())},
                quota_percent={lv: draw(st.sampled_from([Decimal(5), Decimal(50),
                                                         Decimal("33.3")]))
                               for lv in levels if draw(st.booleans())},
                per_cluster=kind == "unit" and draw(st.booleans())))
        return out

    return build()


@st.composite
def rule_sets(draw) -> AwardRules:
    titles = draw(title_rules("member", MEMBER_TITLES)) + draw(title_rules("unit", UNIT_TITLES))
    caps = []
    if len(titles) > 1 and draw(st.booleans()):
        capped, of = draw(st.permutations(titles))[:2]
        caps.append(RatioCap(title=capped.title, of_title=of.title,
                             level=draw(st.sampled_from(capped.levels)),
                             max_percent=draw(st.sampled_from([Decimal(15), Decimal(50),
                                                               Decimal(100)])),
                             enabled=draw(st.booleans())))
    breakers = draw(st.permutations(["points", "direct_worker", "small_collective",
                                     "earliest"]))
    return AwardRules(
        titles=titles, ratio_caps=caps,
        tie_breakers=breakers[:draw(st.integers(0, 4))],
        small_collective_max_members=draw(st.sampled_from([10, 30])),
        higher_level_requires_lower=draw(st.booleans()),
        exclusions=draw(st.one_of(st.just(list(EXCLUSION_KINDS)),
                                  st.lists(st.sampled_from(EXCLUSION_KINDS), unique=True))))


@st.composite
def populations(draw) -> dict:
    units = {g: draw(st.integers(0, 40)) for g in GRASSROOTS}
    members = {f"m-{i}": (draw(st.sampled_from(list(GRASSROOTS))), draw(st.booleans()),
                          draw(st.booleans()), draw(st.integers(0, 3)) == 0)
               for i in range(draw(st.integers(2, 24)))}
    member_ids = list(members)
    scored = {m: (draw(st.sampled_from(POINTS)), draw(st.sampled_from(TIMES)))
              for m in member_ids if draw(st.integers(0, 5))}
    unit_scores = {g: (draw(st.integers(0, 90)), draw(st.sampled_from(TIMES)))
                   for g in units if draw(st.booleans())}
    initiatives = []
    if member_ids:
        for n in range(draw(st.integers(0, 8))):
            initiatives.append((
                f"ini-{n}", draw(st.lists(st.sampled_from(member_ids), min_size=1, max_size=2,
                                          unique=True)),
                draw(st.sampled_from([None, "grassroots", "grassroots", "district", "city"])),
                draw(st.sampled_from([0, 40_000_000, 90_000_000])),
                draw(st.integers(0, 3)) == 0))
    exclusions = {(m, k, y) for m in member_ids if draw(st.integers(0, 3)) == 0
                  for k in [draw(st.sampled_from(EXCLUSION_KINDS))]
                  for y in [draw(st.sampled_from([YEAR, YEAR - 1]))]}
    history = {(kind, sid, title, draw(st.sampled_from(LEVELS[:3])), year)
               for kind, ids, titles in (("member", member_ids, MEMBER_TITLES),
                                         ("unit", list(units), UNIT_TITLES))
               for sid in ids if draw(st.booleans())
               for title in [draw(st.sampled_from(titles))]
               for year in draw(st.sets(st.integers(YEAR - 3, YEAR), max_size=3))}
    clusters = [(f"cl-{c}", draw(st.lists(st.sampled_from(list(units)), min_size=1,
                                           max_size=3, unique=True)),
                 draw(st.sampled_from([YEAR, YEAR - 1])))
                for c in range(draw(st.integers(0, 3)))]
    return {"units": units, "members": members, "scored": scored, "unit_scores": unit_scores,
            "initiatives": initiatives, "exclusions": exclusions, "history": history,
            "clusters": clusters, "basis": draw(st.sampled_from(["per_100_members", "total"]))}


async def write(conn: asyncpg.Connection, world: dict) -> None:
    rows = [(u, p, k, u if k == "district_federation" else None, 0) for u, p, k in UPPER]
    rows += [(g, d, "grassroots_union", d, world["units"][g]) for g, d in GRASSROOTS.items()]
    await conn.executemany(
        """INSERT INTO directory_units (unit_id, effective_from, valid, parent_id, name, kind,
               district_id, sector, member_count, direct_worker_count, status, recorded_at)
           VALUES ($1, '2020-01-01', daterange('2020-01-01', NULL), $2, 'Đơn vị ' || $1, $3,
                   $4, 'other', $5, 0, 'active', now())""", rows)
    await conn.executemany(
        """INSERT INTO directory_members (member_id, effective_from, valid, unit_id, full_name,
               gender, direct_worker, union_officer, status, recorded_at)
           VALUES ($1, '2020-01-01', daterange('2020-01-01', NULL), $2,
                   'Đoàn viên "' || $1 || '" \\ ' || chr(9),  -- what JSON must escape
                   CASE WHEN $4 THEN 'female' ELSE 'male' END, $3, $5, 'active', now())""",
        [(m, u, direct, woman, officer)
         for m, (u, direct, woman, officer) in world["members"].items()])
    accepted = {m: sum(1 for _, authors, level, _, _ in world["initiatives"]
                       if level and m in authors) for m in world["members"]}
    standings = [("member", m, world["members"][m][0], pts, accepted[m], at)
                 for m, (pts, at) in world["scored"].items()]
    standings += [("unit", g, g, Decimal(pts), 0, at)
                  for g, (pts, at) in world["unit_scores"].items()]
    await conn.executemany(
        """INSERT INTO subject_standings (campaign_id, phase_id, subject_kind, subject_id,
               unit_id, total_points, accepted_initiatives, updated_at, subject_version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)""",
        [(CAMPAIGN, PHASE, *s) for s in standings])
    await conn.execute("SET LOCAL session_replication_role = replica")  # consumed: no award row
    for ini, authors, level, benefit, consumed in world["initiatives"]:
        await conn.execute(
            """INSERT INTO initiatives (initiative_id, campaign_id, phase_id, unit_id,
                   author_ids, accepted_level, level_rank, recognised_benefit_vnd)
               VALUES ($1, $2, $3, 'g-1', $4, $5, 0, $6)""",
            ini, CAMPAIGN, PHASE, authors, level, benefit)
        if consumed:
            await conn.execute(
                """INSERT INTO consumed_initiatives (initiative_id, award_id, title, level)
                   VALUES ($1, 'award-earlier', 'creative_labour', 'grassroots')""", ini)
    await conn.executemany(
        """INSERT INTO exclusions (member_id, year, kind, source, unit_id, recorded_by,
               recorded_at) VALUES ($1, $3, $2, 'sổ theo dõi ' || $2, 'g-1', '{}', now())""",
        list(world["exclusions"]))
    await conn.executemany(
        """INSERT INTO title_history (subject_kind, subject_id, title, level, year,
               decision_number, issuer_name, unit_id, source)
           VALUES ($1, $2, $3, $4, $5, '1/QĐ', 'CĐ', 'g-1', 'import')""",
        list(world["history"]))
    await conn.executemany(
        """INSERT INTO directory_clusters (cluster_id, name, organizer_unit_id, member_unit_ids,
               year, effective_from, recorded_at)
           VALUES ($1, 'Cụm ' || $1, ($2::text[])[1], $2, $3, '2025-01-01', now())""",
        world["clusters"])


async def both_ways(database_url: str, schema: str, rules: AwardRules, world: dict):
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await write(conn, world)
            reference = propose(await rounds.candidates(
                conn, CAMPAIGN, PHASE, YEAR, ON, world["basis"]), rules, YEAR)
            stamp = RoundStamp(CAMPAIGN, PHASE, YEAR, NOW, NOW + timedelta(days=7), "awards",
                               "corr-1", "cause-1")
            await place(conn, stamp, rules, ON, world["basis"])
            placed = await conn.fetch(
                """SELECT title, level, subject_kind, subject_id, subject_name, unit_id,
                          issuer_unit_id, cluster_id, points, rank, quota, candidate_count,
                          tie_break, proposal_standing(p), direct_worker, initiative_ids, status
                   FROM proposals p""")
            announced = [decode_event(r[0]) for r in await conn.fetch(
                "SELECT value FROM outbox WHERE event_type = 'thidua.award.proposed.v1'")]
            stored_ids = {(r[0], r[1], r[2]): r[3] for r in await conn.fetch(
                "SELECT title, level, subject_id, proposal_id FROM proposals")}
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
    expected = sorted(
        (p.title, p.level, p.candidate.subject_kind, p.candidate.subject_id, p.candidate.name,
         p.candidate.unit_id, p.issuer_unit_id, p.cluster_id, p.candidate.points, p.rank,
         p.quota, p.candidate_count, p.tie_break, p.standing, p.candidate.direct_worker,
         list(p.initiative_ids), p.status) for p in reference)
    got = sorted(tuple(r) for r in placed)
    # Each placement within quota is announced once, its event built by PostgreSQL saying
    # what the placement says (the contract's model decodes and validates it).
    assert sorted((e.data.title, e.data.level, e.data.subject_kind, e.data.subject_id,
                   e.data.subject_name, e.data.unit_id, e.data.issuer_unit_id,
                   e.data.cluster_id, e.data.points, e.data.quota_rank, e.data.quota,
                   e.data.candidate_count, e.data.tie_break, e.data.proposal_id, e.subject,
                   e.district, e.correlationid, e.causationid, e.time, e.data.proposed_at,
                   e.data.disclosure_ends_at, e.data.campaign_id, e.data.phase_id)
                  for e in announced) == sorted(
        (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12],
         stored_ids[(p[0], p[1], p[3])], p[3], GRASSROOTS[p[5]], "corr-1", "cause-1", NOW, NOW,
         NOW + timedelta(days=7), CAMPAIGN, PHASE)
        for p in got if p[16] == "proposed")
    return expected, got


@settings(max_examples=50, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rules=rule_sets(), world=populations())
def test_sql_placement_is_the_reference_placement(database_url, schema, rules, world):
    _, name = schema
    expected, got = asyncio.run(both_ways(database_url, name, rules, world))
    assert got == expected
    # What the examples reach (pytest --hypothesis-show-statistics).
    for status in ("proposed", "beyond_quota", "excluded"):
        event(f"{status}: {'some' if any(p[16] == status for p in got) else 'none'}")
    event(f"tie broken: {'some' if any(p[12] for p in got) else 'none'}")


def test_the_property_meets_every_kind_of_placement(database_url, schema):
    """The generators reach what the property is about: quotas binding, ties broken, the
    excluded, collectives and clusters (checked on one fixed, busy example)."""
    member_rule = TitleRule(title="good_worker", subject_kind="member",
                            levels=["grassroots", "district"], min_points=Decimal(2),
                            quotas={"grassroots": 2, "district": 1})
    unit_rule = TitleRule(title="emulation_flag", subject_kind="unit", levels=["district"],
                          min_points=Decimal(1), quotas={"district": 1}, per_cluster=True)
    rules = AwardRules(titles=[member_rule, unit_rule])
    world = {
        "units": {g: 10 * (i + 1) for i, g in enumerate(GRASSROOTS)},
        "members": {f"m-{i}": ("g-1" if i < 4 else "g-3", i % 2 == 0, False, False)
                    for i in range(6)},
        "scored": {f"m-{i}": (Decimal(20), TIMES[i % 3]) for i in range(6)},
        "unit_scores": {"g-1": (5, TIMES[0]), "g-2": (10, TIMES[0]), "g-3": (6, TIMES[1])},
        "initiatives": [], "exclusions": {("m-5", "disciplined", YEAR)}, "history": set(),
        "clusters": [("cl-a", ["g-1", "g-3"], YEAR), ("cl-b", ["g-2"], YEAR)],
        "basis": "per_100_members"}
    expected, got = asyncio.run(both_ways(database_url, schema[1], rules, world))
    assert got == expected
    statuses = {(r[0], r[3], r[1]): (r[16], r[12]) for r in got}
    assert statuses[("good_worker", "m-5", "grassroots")] == ("excluded", None)
    # g-1's four at 20 points: direct workers m-0 and m-2 first, each the earlier of a pair.
    assert statuses[("good_worker", "m-0", "grassroots")] == ("proposed", "earliest")
    assert statuses[("good_worker", "m-2", "grassroots")] == ("proposed", "earliest")
    assert statuses[("good_worker", "m-3", "grassroots")] == ("beyond_quota", "direct_worker")
    assert statuses[("good_worker", "m-1", "grassroots")] == ("beyond_quota", "earliest")
    # One flag a cluster, though cl-a's units lie under two district federations: g-1 (50 per
    # 100 members) before g-3 (20); g-2 alone in cl-b.
    assert {k[1] for k, v in statuses.items() if k[0] == "emulation_flag"
            and v[0] == "proposed"} == {"g-1", "g-2"}
    assert statuses[("emulation_flag", "g-3", "district")] == ("beyond_quota", None)

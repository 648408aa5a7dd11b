"""The directory every service keeps: org events through the real consumer into PostgreSQL, read
on dates — the 2025 reorganisation of Hanoi's union tree, events in any order, replays."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import pytest

from services.registration.app import definition as registration_definition
from services.registration.settings import RegistrationSettings
from services.runtime.db import open_schema
from services.runtime.directory import ClusterRow, Directory, directory_handlers
from services.runtime.directory.store import record_members, record_units
from services.runtime.service import ServiceRuntime
from tests.support.events import cluster_formed, member_state, unit_state
from tests.support.handler_harness import ServiceUnderTest, open_harness

pytestmark = pytest.mark.integration

DIRECTORY = ServiceUnderTest("directory", directory_handlers)

FOUNDED = date(2020, 1, 1)
REFORM = date(2025, 7, 1)  # district federations ended on 30 Jun 2025 (DOMAIN-RULES.md)
WARDS = date(2025, 10, 1)  # commune and ward unions from 1 Oct 2025
BEFORE_REFORM = REFORM - timedelta(days=1)
T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)

CITY, DONGDA, BADINH, WARD = "c-hanoi", "d-dongda", "d-badinh", "w-langthuong"
LANGTHUONG, BV_DONGDA, BADINH_SCHOOL = "g-dongda-thcs-langthuong", "g-dongda-bv", "g-badinh-th"


def at(minutes: int) -> datetime:
    """When an event was recorded: minutes after T0."""
    return T0 + timedelta(minutes=minutes)


def founding():
    """The city federation, two district federations and their grassroots unions, from 2020."""
    return [
        unit_state(CITY, None, FOUNDED, kind="city_federation", time=at(0)),
        unit_state(DONGDA, CITY, FOUNDED, kind="district_federation", district_id=DONGDA,
                   time=at(1)),
        unit_state(BADINH, CITY, FOUNDED, kind="district_federation", district_id=BADINH,
                   time=at(2)),
        unit_state(LANGTHUONG, DONGDA, FOUNDED, district_id=DONGDA, time=at(3)),
        unit_state(BV_DONGDA, DONGDA, FOUNDED, district_id=DONGDA, sector="health", time=at(4)),
        unit_state(BADINH_SCHOOL, BADINH, FOUNDED, district_id=BADINH, time=at(5)),
    ]


def reform():
    """1 Jul 2025: Đống Đa's federation dissolved, its grassroots unions under the city."""
    return [
        unit_state(DONGDA, CITY, REFORM, kind="district_federation", district_id=DONGDA,
                   status="dissolved", updated=True, changed=["status"], time=at(10)),
        unit_state(LANGTHUONG, CITY, REFORM, district_id=DONGDA, updated=True,
                   previous_parent_id=DONGDA, changed=["parent_id"], time=at(11)),
        unit_state(BV_DONGDA, CITY, REFORM, district_id=DONGDA, sector="health", updated=True,
                   previous_parent_id=DONGDA, changed=["parent_id"], time=at(12)),
    ]


def wards():
    """1 Oct 2025: the ward union of Láng Thượng, and the school's union under it."""
    return [
        unit_state(WARD, CITY, WARDS, kind="upper_level_union", district_id=WARD, time=at(20)),
        unit_state(LANGTHUONG, WARD, WARDS, district_id=WARD, updated=True,
                   previous_parent_id=CITY, changed=["parent_id", "district_id"], time=at(21)),
    ]


@pytest.fixture(scope="module")
async def harness(database_url):
    async with open_harness(database_url, DIRECTORY) as harness:
        yield harness


@pytest.fixture(autouse=True)
async def empty_tables(harness):
    await harness.reset()


@pytest.fixture
def directory(harness) -> Directory:
    return Directory(harness.pool, cache_seconds=0)


async def snapshot(pool) -> dict[str, list[tuple]]:
    """Every row of the directory's tables, in key order."""
    return {
        table: [tuple(row.values()) for row in await pool.fetch(
            f"SELECT * FROM {table} ORDER BY 1, 2")]
        for table in ("directory_units", "directory_members", "directory_clusters")
    }


async def test_the_tree_on_a_date_answers_ancestors_inside_and_subtree(harness, directory):
    await harness.apply(*founding())

    assert await directory.ancestors(LANGTHUONG, BEFORE_REFORM) == (LANGTHUONG, DONGDA, CITY)
    assert await directory.ancestors(CITY, BEFORE_REFORM) == (CITY,)
    assert await directory.inside(LANGTHUONG, DONGDA, BEFORE_REFORM)
    assert await directory.inside(LANGTHUONG, CITY, BEFORE_REFORM)
    assert await directory.inside(DONGDA, DONGDA, BEFORE_REFORM)  # a unit is inside itself
    assert not await directory.inside(LANGTHUONG, BADINH, BEFORE_REFORM)
    assert not await directory.inside(DONGDA, LANGTHUONG, BEFORE_REFORM)
    assert await directory.subtree(DONGDA, BEFORE_REFORM) == [DONGDA, BV_DONGDA, LANGTHUONG]
    assert await directory.subtree(CITY, BEFORE_REFORM) == [
        CITY, BADINH, DONGDA, BADINH_SCHOOL, BV_DONGDA, LANGTHUONG]

    unit = await directory.unit(BV_DONGDA, BEFORE_REFORM)
    assert (unit.unit_id, unit.kind, unit.parent_id, unit.district_id, unit.sector,
            unit.status, unit.effective_from) == (
        BV_DONGDA, "grassroots_union", DONGDA, DONGDA, "health", "active", FOUNDED)
    assert (unit.name, unit.member_count, unit.direct_worker_count) == (
        f"Công đoàn {BV_DONGDA}", 40, 10)


async def test_before_a_unit_is_founded_it_has_no_state_and_is_inside_nothing(harness, directory):
    await harness.apply(*founding())
    before = FOUNDED - timedelta(days=1)
    assert await directory.unit(LANGTHUONG, before) is None
    assert await directory.ancestors(LANGTHUONG, before) is None
    assert not await directory.inside(LANGTHUONG, LANGTHUONG, before)
    assert await directory.subtree(CITY, before) == []
    assert await directory.ancestors("g-unknown", BEFORE_REFORM) is None


async def test_the_2025_reform_moves_grassroots_unions_from_the_dissolved_district_to_the_city(
    harness, directory
):
    await harness.apply(*founding())
    await harness.apply(*reform())

    # 30 June: still inside Đống Đa's federation.
    assert await directory.ancestors(LANGTHUONG, BEFORE_REFORM) == (LANGTHUONG, DONGDA, CITY)
    assert await directory.inside(LANGTHUONG, DONGDA, BEFORE_REFORM)
    # 1 July: directly under the city; Đống Đa's federation keeps a dissolved state, childless.
    assert await directory.ancestors(LANGTHUONG, REFORM) == (LANGTHUONG, CITY)
    assert not await directory.inside(LANGTHUONG, DONGDA, REFORM)
    assert await directory.inside(LANGTHUONG, CITY, REFORM)
    dongda = await directory.unit(DONGDA, REFORM)
    assert (dongda.status, dongda.effective_from, dongda.parent_id) == ("dissolved", REFORM, CITY)
    assert (await directory.unit(DONGDA, BEFORE_REFORM)).status == "active"
    assert await directory.subtree(DONGDA, REFORM) == [DONGDA]
    assert await directory.subtree(DONGDA, BEFORE_REFORM) == [DONGDA, BV_DONGDA, LANGTHUONG]
    assert await directory.subtree(CITY, REFORM) == [  # level by level, by id
        CITY, BADINH, DONGDA, BV_DONGDA, LANGTHUONG, BADINH_SCHOOL]
    # Ba Đình's school did not move.
    assert await directory.ancestors(BADINH_SCHOOL, REFORM) == (BADINH_SCHOOL, BADINH, CITY)

    # 1 October: the ward union, and Láng Thượng's school union under it.
    await harness.apply(*wards())
    assert await directory.unit(WARD, WARDS - timedelta(days=1)) is None
    assert await directory.ancestors(LANGTHUONG, WARDS - timedelta(days=1)) == (LANGTHUONG, CITY)
    assert await directory.ancestors(LANGTHUONG, WARDS) == (LANGTHUONG, WARD, CITY)
    assert await directory.inside(LANGTHUONG, WARD, date(2026, 5, 1))
    assert await directory.subtree(WARD, WARDS) == [WARD, LANGTHUONG]
    assert (await directory.unit(LANGTHUONG, WARDS)).district_id == WARD
    # What was true before each date stays readable.
    assert await directory.ancestors(LANGTHUONG, date(2024, 12, 31)) == (
        LANGTHUONG, DONGDA, CITY)


async def test_each_state_holds_until_the_next_date_of_its_unit(harness):
    await harness.apply(*founding(), *reform(), *wards())
    rows = await harness.pool.fetch(
        """SELECT effective_from, lower(valid) AS since, upper(valid) AS until, parent_id
           FROM directory_units WHERE unit_id = $1 ORDER BY effective_from""", LANGTHUONG)
    assert [tuple(r.values()) for r in rows] == [
        (FOUNDED, FOUNDED, REFORM, DONGDA),
        (REFORM, REFORM, WARDS, CITY),
        (WARDS, WARDS, None, WARD),
    ]


async def test_several_dates_of_one_unit_in_one_statement_are_ranged_between_each_other(
    harness, directory
):
    await harness.apply(*founding())
    moves = [  # all `unit.updated`: one run, one statement, newest date first
        unit_state(LANGTHUONG, WARD, WARDS, district_id=WARD, updated=True, time=at(21)),
        unit_state(LANGTHUONG, CITY, REFORM, district_id=DONGDA, updated=True, time=at(11)),
        unit_state(LANGTHUONG, DONGDA, date(2023, 3, 1), district_id=DONGDA, member_count=52,
                   updated=True, time=at(30)),
    ]
    await harness.apply(*moves)
    rows = await harness.pool.fetch(
        """SELECT lower(valid), upper(valid), parent_id, member_count FROM directory_units
           WHERE unit_id = $1 ORDER BY effective_from""", LANGTHUONG)
    assert [tuple(r.values()) for r in rows] == [
        (FOUNDED, date(2023, 3, 1), DONGDA, 40),
        (date(2023, 3, 1), REFORM, DONGDA, 52),
        (REFORM, WARDS, CITY, 40),
        (WARDS, None, WARD, 40),
    ]


async def test_units_inside_filters_a_list_in_one_query(harness, directory):
    await harness.apply(*founding(), *reform(), *wards())
    listed = [LANGTHUONG, BV_DONGDA, BADINH_SCHOOL, DONGDA, "g-unknown", LANGTHUONG]

    assert await directory.units_inside(listed, DONGDA, BEFORE_REFORM) == {
        LANGTHUONG, BV_DONGDA, DONGDA}
    assert await directory.units_inside(listed, DONGDA, REFORM) == {DONGDA}
    assert await directory.units_inside(listed, CITY, REFORM) == {
        LANGTHUONG, BV_DONGDA, BADINH_SCHOOL, DONGDA}
    assert await directory.units_inside(listed, WARD, WARDS) == {LANGTHUONG}
    assert await directory.units_inside(listed, BADINH, WARDS) == {BADINH_SCHOOL}
    assert await directory.units_inside([], CITY, WARDS) == set()
    # The same answers as `inside`, unit by unit.
    for day in (BEFORE_REFORM, REFORM, WARDS):
        for ancestor in (CITY, DONGDA, BADINH, WARD, LANGTHUONG):
            one_by_one = {u for u in listed if await directory.inside(u, ancestor, day)}
            assert await directory.units_inside(listed, ancestor, day) == one_by_one


async def test_events_in_any_order_give_the_same_directory(harness):
    everything = [*founding(), *reform(), *wards()]
    await harness.apply(*everything)
    in_order = await snapshot(harness.pool)

    # The moves before the registrations, one batch each: then all in one batch, reversed.
    await harness.reset()
    for event in reversed(everything):
        await harness.apply(event)
    assert await snapshot(harness.pool) == in_order

    await harness.reset()
    await harness.apply(*reversed(everything))
    assert await snapshot(harness.pool) == in_order

    await harness.reset()
    await harness.apply(*wards())
    await harness.apply(*reform())
    await harness.apply(*founding())
    assert await snapshot(harness.pool) == in_order


async def test_a_backdated_correction_after_a_future_dated_move_keeps_both(harness, directory):
    await harness.apply(*founding())
    await harness.apply(*reform())
    # Recorded last, about 2023: the school's union had 52 members from 1 March 2023.
    correction = unit_state(LANGTHUONG, DONGDA, date(2023, 3, 1), district_id=DONGDA,
                            member_count=52, updated=True, changed=["member_count"], time=at(30))
    await harness.apply(correction)

    assert (await directory.unit(LANGTHUONG, date(2023, 2, 28))).member_count == 40
    on_2024 = await directory.unit(LANGTHUONG, date(2024, 6, 1))
    assert (on_2024.member_count, on_2024.effective_from, on_2024.parent_id) == (
        52, date(2023, 3, 1), DONGDA)
    after = await directory.unit(LANGTHUONG, REFORM)
    assert (after.parent_id, after.member_count) == (CITY, 40)  # the move's own state


async def test_replaying_the_same_events_changes_nothing(harness):
    everything = [*founding(), *reform(), *wards(),
                  member_state("m-lan", LANGTHUONG, FOUNDED, time=at(40)),
                  cluster_formed("cl-2025-gd", CITY, [LANGTHUONG, BADINH_SCHOOL], 2025,
                                 time=at(41))]
    await harness.apply(*everything)
    applied = await snapshot(harness.pool)

    await harness.apply(*everything)  # redelivered: the inbox knows them
    assert await snapshot(harness.pool) == applied

    # Replayed from the start with the inbox pruned: the projection itself changes nothing.
    await harness.pool.execute("TRUNCATE inbox")
    await harness.apply(*everything)
    assert await snapshot(harness.pool) == applied
    await harness.pool.execute("TRUNCATE inbox")
    await harness.apply(*reversed(everything))
    assert await snapshot(harness.pool) == applied


async def test_an_older_state_for_the_same_date_does_not_overwrite_a_newer_one(
    harness, directory
):
    await harness.apply(*founding())
    older = unit_state(BV_DONGDA, DONGDA, date(2024, 1, 1), sector="health", member_count=60,
                       updated=True, time=at(50))
    newer = unit_state(BV_DONGDA, DONGDA, date(2024, 1, 1), sector="health", member_count=75,
                       updated=True, time=at(51))
    on = date(2024, 5, 1)

    await harness.apply(newer)
    await harness.apply(older)  # an older event delivered late (another event id)
    assert (await directory.unit(BV_DONGDA, on)).member_count == 75

    await harness.reset()
    await harness.apply(*founding())
    await harness.apply(older)
    await harness.apply(newer)
    assert (await directory.unit(BV_DONGDA, on)).member_count == 75

    # Both in one batch, either way round: the later recorded one is kept.
    for batch in ((newer, older), (older, newer)):
        await harness.reset()
        await harness.apply(*founding(), *batch)
        assert (await directory.unit(BV_DONGDA, on)).member_count == 75


async def test_a_member_transferred_between_units_belongs_to_each_on_its_dates(
    harness, directory
):
    await harness.apply(*founding())
    transfer = date(2025, 3, 1)
    await harness.apply(
        member_state("m-lan", LANGTHUONG, date(2023, 9, 1), job_title="giáo viên", time=at(60)),
        member_state("m-hoa", LANGTHUONG, date(2023, 9, 1), full_name="Lê Thị Hoa", time=at(61)),
    )
    await harness.apply(member_state(
        "m-lan", BV_DONGDA, transfer, job_title="điều dưỡng", updated=True,
        previous_unit_id=LANGTHUONG, time=at(62)))

    before = await directory.member("m-lan", transfer - timedelta(days=1))
    after = await directory.member("m-lan", transfer)
    assert (before.unit_id, before.job_title, before.effective_from) == (
        LANGTHUONG, "giáo viên", date(2023, 9, 1))
    assert (after.unit_id, after.job_title, after.effective_from) == (
        BV_DONGDA, "điều dưỡng", transfer)
    assert (after.full_name, after.gender, after.direct_worker, after.union_officer,
            after.status) == ("Nguyễn Thị Lan", "female", True, False, "active")
    assert await directory.member("m-lan", date(2023, 8, 31)) is None
    assert [m.member_id for m in await directory.members(LANGTHUONG, date(2024, 1, 1))] == [
        "m-hoa", "m-lan"]
    assert [m.member_id for m in await directory.members(LANGTHUONG, transfer)] == ["m-hoa"]
    assert [m.member_id for m in await directory.members(BV_DONGDA, transfer)] == ["m-lan"]

    # Leaving: the state says so from its date on.
    await harness.apply(member_state("m-hoa", LANGTHUONG, date(2025, 9, 1), status="left",
                                     updated=True, time=at(63)))
    assert (await directory.member("m-hoa", date(2025, 9, 1))).status == "left"
    assert (await directory.member("m-hoa", date(2025, 8, 31))).status == "active"


async def test_clusters_of_a_unit_in_a_year(harness, directory):
    await harness.apply(
        cluster_formed("cl-2025-gd", CITY, [LANGTHUONG, BADINH_SCHOOL, "g-other"], 2025,
                       time=at(70)),
        cluster_formed("cl-2025-yt", CITY, [BV_DONGDA], 2025, time=at(71)),
        cluster_formed("cl-2024-gd", DONGDA, [LANGTHUONG, BV_DONGDA], 2024, time=at(72)),
    )
    assert await directory.clusters_of(LANGTHUONG, 2025) == [ClusterRow(
        "cl-2025-gd", "Cụm thi đua cl-2025-gd", CITY, (LANGTHUONG, BADINH_SCHOOL, "g-other"),
        2025, date(2025, 1, 1))]
    assert [c.cluster_id for c in await directory.clusters_of(BV_DONGDA, 2024)] == ["cl-2024-gd"]
    assert [c.cluster_id for c in await directory.clusters_of(BV_DONGDA, 2025)] == ["cl-2025-yt"]
    assert await directory.clusters_of(LANGTHUONG, 2026) == []
    assert await directory.clusters_of(CITY, 2025) == []  # the organiser is not a member

    # A later formation of the same cluster replaces it; an older one arriving late does not.
    await harness.apply(cluster_formed("cl-2025-yt", CITY, [BV_DONGDA, LANGTHUONG], 2025,
                                       time=at(80)))
    await harness.apply(cluster_formed("cl-2025-yt", CITY, [BV_DONGDA], 2025, time=at(75)))
    assert [c.cluster_id for c in await directory.clusters_of(LANGTHUONG, 2025)] == [
        "cl-2025-gd", "cl-2025-yt"]


async def test_cached_answers_last_their_ttl_and_fresh_reads_see_new_events(harness):
    await harness.apply(*founding())
    now = [0.0]
    cached = Directory(harness.pool, cache_seconds=5, clock=lambda: now[0])
    assert await cached.ancestors(LANGTHUONG, REFORM) == (LANGTHUONG, DONGDA, CITY)

    await harness.apply(*reform())
    now[0] = 4.9
    assert await cached.ancestors(LANGTHUONG, REFORM) == (LANGTHUONG, DONGDA, CITY)  # stale
    assert await cached.inside(LANGTHUONG, DONGDA, REFORM)
    now[0] = 5.0
    assert await cached.ancestors(LANGTHUONG, REFORM) == (LANGTHUONG, CITY)
    assert not await cached.inside(LANGTHUONG, DONGDA, REFORM)


async def test_a_state_written_outside_a_transaction_keeps_the_ranges_apart(harness, directory):
    """The store is one statement per batch: on an autocommit connection the deferred
    one-state-a-day constraint is checked at once and holds."""
    async with harness.pool.acquire() as conn:
        await record_units(conn, founding())
        await record_units(conn, reform())
    assert await directory.ancestors(LANGTHUONG, REFORM) == (LANGTHUONG, CITY)


async def test_every_role_of_a_service_reads_the_directory_of_its_schema(database_url):
    schema = f"dirsvc_{uuid.uuid4().hex[:8]}"
    settings = RegistrationSettings(database_url=database_url, db_schema=schema, role="api",
                                    directory_cache_seconds=0.5, directory_cache_size=10)
    runtime = ServiceRuntime(registration_definition(settings))
    assert [t.name for t in runtime.definition.consumes] == ["thidua.org.v1"]
    assert "thidua.unit.updated.v1" in runtime.handlers
    await runtime.start()
    try:
        async with runtime.pool.acquire() as conn:
            await record_units(conn, founding())
        assert isinstance(runtime.directory, Directory)
        assert await runtime.directory.inside(LANGTHUONG, DONGDA, BEFORE_REFORM)
    finally:
        await runtime.stop()
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await admin.close()


async def test_many_service_schemas_install_the_directory_at_once(database_url):
    """Each schema migrates under its own lock; the extension they share is created once."""
    admin = await asyncpg.connect(database_url)
    database = f"directory_{uuid.uuid4().hex[:8]}"
    await admin.execute(f"CREATE DATABASE {database}")
    try:
        url = urlsplit(database_url)._replace(path=f"/{database}").geturl()
        pools = await asyncio.gather(*(open_schema(url, f"svc_{n}", max_size=1)
                                       for n in range(6)))
        try:
            for pool in pools:
                async with pool.acquire() as conn:
                    await record_units(conn, founding())
                assert await Directory(pool).inside(LANGTHUONG, CITY, BEFORE_REFORM)
        finally:
            await asyncio.gather(*(pool.close() for pool in pools))
    finally:
        await admin.execute(f"DROP DATABASE {database} WITH (FORCE)")
        await admin.close()


async def test_two_batches_writing_one_member_at_once_cannot_both_commit_a_stale_range(
    harness, directory
):
    """A transfer's events are keyed by the member's unit, so two partitions, maybe two
    consumers: neither batch sees the other's state, both write an open-ended range, and the
    one-state-a-day constraint lets only one commit (the other fails on the overlap or on the
    deadlock of the two checks waiting for each other); the consumer's retry ranges both."""
    registered = member_state("m-lan", LANGTHUONG, date(2023, 9, 1), time=at(60))
    moved = member_state("m-lan", BV_DONGDA, date(2025, 3, 1), updated=True, time=at(61))
    conns = [await harness.pool.acquire(), await harness.pool.acquire()]
    try:
        transactions = [conn.transaction() for conn in conns]
        for conn, transaction, event in zip(conns, transactions, (registered, moved), strict=True):
            await transaction.start()
            await record_members(conn, [event])  # neither sees the other's uncommitted row
        outcomes = await asyncio.wait_for(asyncio.gather(
            *(transaction.commit() for transaction in transactions), return_exceptions=True), 30)
        failed = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, Exception)]
        assert len(failed) == 1, outcomes
        assert isinstance(outcomes[failed[0]], (asyncpg.ExclusionViolationError,
                                                asyncpg.DeadlockDetectedError))
        # A commit whose deferred check fails ends the transaction (rolled back).
        async with conns[failed[0]].transaction():  # the retry
            await record_members(conns[failed[0]], [(registered, moved)[failed[0]]])
    finally:
        for conn in conns:
            await harness.pool.release(conn)
    assert (await directory.member("m-lan", date(2024, 1, 1))).unit_id == LANGTHUONG
    assert (await directory.member("m-lan", date(2025, 3, 1))).unit_id == BV_DONGDA

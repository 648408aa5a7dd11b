"""Scope checks on a dated tree, with an in-memory directory (the real one is proven against
PostgreSQL in tests/integration/services/test_directory*.py and end to end in
tests/e2e/test_authorization.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar

import pytest
from fastapi import APIRouter, Depends, FastAPI

from services.runtime.access import (
    PUBLIC,
    MemberNotFound,
    Rule,
    Scope,
    UndeclaredAccess,
    UnitNotFound,
    check_every_route_declares,
    document_access,
    today_in_vietnam,
)
from services.runtime.caller import Caller, ClaimsRefused, Role
from services.runtime.directory.queries import MemberOnDate, UnitOnDate

BEFORE = date(2025, 6, 30)
TODAY = date(2026, 11, 25)


class TreeOnTwoDates:
    """Đống Đa's school under its district federation until 30 Jun 2025, under a ward now."""

    parents: ClassVar = {
        BEFORE: {"u-hanoi": None, "u-dongda": "u-hanoi", "u-school": "u-dongda",
                 "u-hospital": "u-caugiay", "u-caugiay": "u-hanoi"},
        TODAY: {"u-hanoi": None, "u-dongda": "u-hanoi", "u-ward": "u-hanoi",
                "u-school": "u-ward", "u-hospital": "u-hanoi", "u-caugiay": "u-hanoi"},
    }
    members: ClassVar = {"m-teacher": "u-school", "m-nurse": "u-hospital"}

    def _parents(self, on: date) -> dict:
        return self.parents[TODAY if on >= date(2025, 7, 1) else BEFORE]

    async def ancestors(self, unit_id, on):
        parents = self._parents(on)
        if unit_id not in parents:
            return None
        chain = [unit_id]
        while parents[chain[-1]] is not None:
            chain.append(parents[chain[-1]])
        return tuple(chain)

    async def inside(self, unit_id, ancestor_id, on):
        return ancestor_id in (await self.ancestors(unit_id, on) or ())

    async def units_inside(self, unit_ids, ancestor_id, on):
        return {u for u in unit_ids if await self.inside(u, ancestor_id, on)}

    async def unit(self, unit_id, on):
        parents = self._parents(on)
        if unit_id not in parents:
            return None
        return UnitOnDate(unit_id=unit_id, name=unit_id, kind="grassroots_union",
                          parent_id=parents[unit_id], district_id=None, sector="education",
                          member_count=10, direct_worker_count=0,
                          status="dissolved" if unit_id == "u-dongda" and on > BEFORE
                          else "active", effective_from=date(2020, 1, 1))

    async def member(self, member_id, on):
        unit = self.members.get(member_id)
        return None if unit is None else MemberOnDate(
            member_id=member_id, unit_id=unit, full_name="x", gender="female",
            direct_worker=False, union_officer=False, job_title=None, status="active",
            effective_from=date(2020, 1, 1))


def scope(role: Role, unit: str | None = None, member: str | None = None) -> Scope:
    return Scope(Caller(subject="s", role=role, unit_id=unit, member_id=member),
                 TreeOnTwoDates(), TODAY)


async def test_an_official_holds_their_subtree_today_and_nothing_beside_it():
    ward = scope(Role.UPPER_OFFICIAL, "u-ward")
    assert await ward.holds_unit("u-school")
    assert await ward.holds_unit("u-ward")
    assert not await ward.holds_unit("u-hospital")
    assert not await ward.holds_unit("u-hanoi")  # the parent is not inside the subtree


async def test_history_stays_readable_to_whom_it_belonged_but_acting_follows_today():
    former = scope(Role.UPPER_OFFICIAL, "u-dongda")
    assert await former.holds_unit("u-school", on=BEFORE)
    assert not await former.holds_unit("u-school")
    with pytest.raises(UnitNotFound):
        await former.require_acting_on("u-school")


async def test_acting_gives_the_unit_and_refuses_out_of_scope_as_not_found():
    unit = await scope(Role.GRASSROOTS_OFFICIAL, "u-school").require_acting_on("u-school")
    assert unit.unit_id == "u-school"
    with pytest.raises(UnitNotFound) as refused:
        await scope(Role.GRASSROOTS_OFFICIAL, "u-hospital").require_acting_on("u-school")
    assert (refused.value.code, refused.value.field) == ("unit_not_found", "unit_id")


async def test_read_only_roles_never_act_and_city_wide_roles_read_everywhere():
    for role, unit in ((Role.INTEGRATOR, "u-hanoi"), (Role.AUDITOR, None)):
        with pytest.raises(UnitNotFound):
            await scope(role, unit).require_acting_on("u-school")
    assert await scope(Role.AUDITOR).holds_unit("u-hospital")
    assert await scope(Role.INTEGRATOR, "u-hanoi").holds_unit("u-hospital")
    assert (await scope(Role.CITY_ADMIN).require_acting_on("u-hospital")).unit_id == "u-hospital"


async def test_a_member_holds_only_records_about_themself():
    teacher = scope(Role.MEMBER, member="m-teacher")
    assert await teacher.holds_unit("u-school", members=["m-teacher", "m-x"])
    assert not await teacher.holds_unit("u-school")
    await teacher.require_member("m-teacher")
    with pytest.raises(MemberNotFound):
        await teacher.require_member("m-nurse")
    assert (await teacher.require_acting_on("u-school")).unit_id == "u-school"
    with pytest.raises(UnitNotFound):
        await teacher.require_acting_on("u-hospital")


async def test_an_official_reads_members_of_their_units_only():
    school = scope(Role.GRASSROOTS_OFFICIAL, "u-school")
    await school.require_member("m-teacher")
    with pytest.raises(MemberNotFound):
        await school.require_member("m-nurse")
    with pytest.raises(MemberNotFound):
        await school.require_member("m-unknown")


async def test_the_route_chooses_what_out_of_scope_looks_like():
    class InitiativeNotFound(Exception):
        pass

    with pytest.raises(InitiativeNotFound):
        await scope(Role.GRASSROOTS_OFFICIAL, "u-hospital").require_unit(
            "u-school", otherwise=InitiativeNotFound())  # type: ignore[arg-type]


async def test_lists_are_filtered_by_scope_today_or_on_each_row_date():
    rows = [("u-school", TODAY), ("u-hospital", TODAY), ("u-school", BEFORE)]
    ward = scope(Role.UPPER_OFFICIAL, "u-ward")
    assert await ward.visible(rows, lambda r: r[0], lambda r: r[1]) == [rows[0], rows[2]]
    former = scope(Role.UPPER_OFFICIAL, "u-dongda")
    assert await former.visible(rows, lambda r: r[0], lambda r: r[1]) == [rows[2]]
    assert await scope(Role.AUDITOR).visible(rows, lambda r: r[0]) == rows
    assert await scope(Role.MEMBER, member="m-teacher").visible(rows, lambda r: r[0]) == []


def test_claims_name_a_known_role_and_the_scope_it_needs():
    assert Caller.from_claims({"sub": "a", "thidua_role": "integrator", "thidua_unit": "u-1"}) \
        == Caller(subject="a", role=Role.INTEGRATOR, unit_id="u-1")
    for claims, says in (
        ({"thidua_role": "auditor"}, "subject"),
        ({"sub": "a", "thidua_role": "root"}, "must be one of"),
        ({"sub": "a", "thidua_role": "upper_official"}, "thidua_unit"),
        ({"sub": "a", "thidua_role": "member"}, "thidua_member"),
        ({"sub": "a", "thidua_role": "integrator", "thidua_unit": "u" * 65}, "1 to 64"),
        ({"sub": "a", "thidua_role": "integrator", "thidua_unit": 7}, "1 to 64"),
    ):
        with pytest.raises(ClaimsRefused, match=says):
            Caller.from_claims(claims)


def test_the_actor_recorded_is_the_caller():
    actor = Scope(Caller(subject="kc:1", role=Role.UPPER_OFFICIAL, unit_id="u-ward",
                         name="Phạm Quốc Hùng"), TreeOnTwoDates(), TODAY).actor
    assert actor.model_dump() == {"subject": "kc:1", "role": "upper_official",
                                  "unit_id": "u-ward", "member_id": None,
                                  "name": "Phạm Quốc Hùng"}


def test_the_calendar_date_is_vietnamese():
    from datetime import UTC, datetime
    assert today_in_vietnam(datetime(2025, 6, 30, 17, 0, tzinfo=UTC)) == date(2025, 7, 1)
    assert today_in_vietnam(datetime(2025, 6, 30, 16, 59, tzinfo=UTC)) == date(2025, 6, 30)


READERS = Rule("read-things", {Role.AUDITOR}, summary="Auditors.")


def test_a_route_without_a_rule_is_refused_and_declared_ones_are_documented():
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str, scope: Annotated[Scope, Depends(READERS)]) -> dict:
        return {}

    @router.get("/ping", dependencies=[Depends(PUBLIC)])
    async def ping() -> dict:
        return {}

    app = FastAPI()
    app.include_router(router)
    check_every_route_declares(app.routes)
    document = document_access(app.routes, app.openapi())
    operation = document["paths"]["/things/{thing_id}"]["get"]
    assert operation["x-thidua-access"] == {"rule": "read-things", "roles": ["auditor"],
                                            "writes": False, "summary": "Auditors."}
    assert operation["security"] == [{"bearer": []}]
    assert document["paths"]["/ping"]["get"]["x-thidua-access"]["rule"] == "public"

    @app.get("/open")
    async def open_route() -> dict:
        return {}

    with pytest.raises(UndeclaredAccess, match="/open"):
        check_every_route_declares(app.routes)

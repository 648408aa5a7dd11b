"""The scenario's union tree: the demo directory and the three districts' population, in the
order registration accepts them, and the members as the import file officials would upload.

Registration refuses a new child under a unit dissolved on any later day, so every founding
(2020) is recorded before the 1 Jul 2025 hand-over and dissolutions, and the ward unions
(1 Oct 2025) before the units move under them. Pure data.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from contracts.events.base import EventData
from contracts.events.org import MemberRegistered, UnitRegistered, UnitUpdated

from .demo_directory import CAUGIAY, HOSPITAL, SCHOOL, WARD_NGHIADO, demo_directory
from .demo_population import (
    DISTRICTS,
    GRASSROOTS,
    WARDS,
    MemberRow,
    population_members,
    population_units,
)

MEMBER_COLUMNS = ("member_id", "unit_id", "full_name", "gender", "direct_worker",
                  "union_officer", "job_title", "effective_from")


def _order(event: EventData) -> tuple[date, int]:
    if isinstance(event, UnitUpdated):
        return event.effective_from, 3 if "status" in event.changed else 2
    if isinstance(event, UnitRegistered):
        return event.effective_from, 0
    return event.effective_from, 1  # members join units founded the same day


def scenario_tree() -> list[EventData]:
    """Every unit state of the demo directory and the population, dated order (a stable sort:
    parents stay before their children)."""
    return sorted([*demo_directory(), *population_units()], key=_order)


def scenario_units() -> dict[str, UnitRegistered | UnitUpdated]:
    """The latest state of every unit of the tree, by id."""
    return {e.unit_id: e for e in scenario_tree() if isinstance(e, UnitRegistered | UnitUpdated)}


def scenario_members() -> list[MemberRow]:
    """The population's members (the demo directory's three are recorded by command)."""
    return population_members()


def members_csv(rows: list[MemberRow]) -> bytes:
    """The members import file (`POST /imports/members`), UTF-8 as Excel saves "CSV UTF-8"."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MEMBER_COLUMNS)
    for row in rows:
        writer.writerow([row.member_id, row.unit_id, row.full_name, row.gender,
                         "true" if row.direct_worker else "false",
                         "true" if row.union_officer else "false", row.job_title,
                         row.effective_from.isoformat()])
    return out.getvalue().encode()


def demo_members() -> list[MemberRegistered]:
    return [e for e in demo_directory() if isinstance(e, MemberRegistered)]


# Where each grassroots union stands today: its ward or commune union, and the district it
# belonged to until 30 Jun 2025 (the report folds wards back into those districts).
def ward_of() -> dict[str, str]:
    wards = {g.unit_id: g.ward for units in GRASSROOTS.values() for g in units}
    return wards | {SCHOOL: "u-phuong-lang", HOSPITAL: WARD_NGHIADO}


def former_district_of_ward() -> dict[str, str]:
    return {ward: district for ward, (_, district) in WARDS.items()} | {WARD_NGHIADO: CAUGIAY}


def district_names() -> dict[str, str]:
    return DISTRICTS | {CAUGIAY: "LĐLĐ quận Cầu Giấy"}


def grassroots_ids() -> list[str]:
    return [SCHOOL, HOSPITAL, *(g.unit_id for units in GRASSROOTS.values() for g in units)]


def member_units() -> dict[str, str]:
    """Each scenario member's unit."""
    units = {r.member_id: r.unit_id for r in scenario_members()}
    return units | {e.member_id: e.unit_id for e in demo_members()}
